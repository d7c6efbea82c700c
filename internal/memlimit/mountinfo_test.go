package memlimit

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseMountinfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []cgroupMount
		err  bool
	}{
		{"v2", "30 22 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n",
			[]cgroupMount{{v2: true, root: "/", point: "/sys/fs/cgroup"}}, false},
		{"no optional fields", "30 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			[]cgroupMount{{v2: true, root: "/", point: "/sys/fs/cgroup"}}, false},
		{"several optional fields", "30 22 0:26 /a /b rw shared:4 master:1 propagate_from:2 - cgroup2 none rw\n",
			[]cgroupMount{{v2: true, root: "/a", point: "/b"}}, false},
		{"hybrid", "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n" +
			"32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n" +
			"35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
			"41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
			[]cgroupMount{{root: "/", point: "/sys/fs/cgroup/memory"}, {v2: true, root: "/", point: "/sys/fs/cgroup/unified"}}, false},
		{"docker root", "700 650 0:60 /docker/3f2a /sys/fs/cgroup/memory ro master:20 - cgroup cgroup rw,memory\n",
			[]cgroupMount{{root: "/docker/3f2a", point: "/sys/fs/cgroup/memory"}}, false},
		{"escapes", "1 1 0:1 /a\\040b /mnt/c\\011d\\134e rw - cgroup2 cgroup2 rw\n",
			[]cgroupMount{{v2: true, root: "/a b", point: "/mnt/c\td\\e"}}, false},
		{"bad escapes kept", "1 1 0:1 / /x\\7 rw - cgroup2 cgroup2 rw\n1 1 0:1 / /y\\777 rw - cgroup2 cgroup2 rw\n",
			[]cgroupMount{{v2: true, root: "/", point: "/x\\7"}, {v2: true, root: "/", point: "/y\\777"}}, false},
		{"no cgroup mounts", "22 1 0:20 / / rw - overlay overlay rw\n", nil, false},
		{"short lines", "1 2 3\n - cgroup2\n1 2 3 4 5 6 - cgroup2\n", nil, false},
		{"relative root", "1 2 3:4 relative /x - cgroup2 cgroup2 rw\n", nil, false},
		{"empty", "", nil, true},
		{"blank", " \n\n", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMountinfo([]byte(tc.in))
			assert.Equal(t, tc.err, err != nil, "%v", err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/plain", "/plain"},
		{`/a\040b`, "/a b"},
		{`\040`, " "},
		{`/end\134`, `/end\`},
		{`/short\04`, `/short\04`},
		{`/over\400`, `/over\400`}, // above \377: not a byte
		{`/not\08x`, `/not\08x`},
		{`/two\040\011`, "/two \t"},
	} {
		assert.Equal(t, tc.want, unescapeMountinfo(tc.in), "%q", tc.in)
	}
}

func TestPickMount(t *testing.T) {
	hybrid := []cgroupMount{
		{root: "/", point: "/sys/fs/cgroup/memory"},
		{v2: true, root: "/", point: "/sys/fs/cgroup/unified"},
	}
	bindMounts := []cgroupMount{
		{v2: true, root: "/other", point: "/mnt/other"},
		{v2: true, root: "/kubepods", point: "/sys/fs/cgroup"},
	}
	for _, tc := range []struct {
		name   string
		mounts []cgroupMount
		v2     bool
		path   string
		want   cgroupMount
	}{
		{"v1 of a hybrid host", hybrid, false, "/app", hybrid[0]},
		{"v2 of a hybrid host", hybrid, true, "/", hybrid[1]},
		{"the mount whose root holds the path", bindMounts, true, "/kubepods/pod1", bindMounts[1]},
		{"the root itself", bindMounts, true, "/kubepods", bindMounts[1]},
		{"a sibling with the root as prefix is not within", bindMounts, true, "/kubepods-x", bindMounts[0]},
		{"no path: the first", bindMounts, true, "", bindMounts[0]},
		{"no v1 mount: the usual place", bindMounts, false, "/app", defaultMount(false)},
		{"no mount at all: the usual place", nil, true, "/app", defaultMount(true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, pickMount(tc.mounts, tc.v2, tc.path))
		})
	}
}

func FuzzParseMountinfo(f *testing.F) {
	for _, data := range fixtureSeeds(f, "mountinfo") {
		f.Add(data)
	}
	f.Add([]byte("1 1 0:1 /a\\040b /mnt/c\\011d rw - cgroup2 cgroup2 rw\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		mounts, err := parseMountinfo(data)
		if err != nil {
			require.Empty(t, mounts)
			return
		}
		for _, m := range mounts {
			require.True(t, strings.HasPrefix(m.root, "/"), "%+v", m)
			require.True(t, strings.HasPrefix(m.point, "/"), "%+v", m)
			p := pickMount(mounts, m.v2, m.root)
			require.Equal(t, m.v2, p.v2)
		}
	})
}
