package memlimit

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseProcCgroup(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		v2, v1   string
	}{
		{"v2 only", "0::/user.slice/app.service\n", "/user.slice/app.service", ""},
		{"v2 root", "0::/\n", "/", ""},
		{"hybrid", "9:name=systemd:/\n4:memory:/process_api/530e\n1:cpu:/\n0::/\n", "/", "/process_api/530e"},
		{"memory among controllers", "7:cpu,memory:/grp\n", "", "/grp"},
		{"colon in the path", "0::/a:b\n", "/a:b", ""},
		{"CRLF", "0::/app\r\n", "/app", ""},
		{"first line wins", "0::/one\n0::/two\n3:memory:/m1\n4:memory:/m2\n", "/one", "/m1"},
		{"relative paths are ignored", "0::app\n4:memory:grp\n", "", ""},
		{"non-zero hierarchy with no controllers is not v2", "3::/x\n", "", ""},
		{"memory-ish names do not count", "4:memory.x,memoryfoo:/x\n", "", ""},
		{"empty", "", "", ""},
		{"garbage", "\x00\xff::::\nnot a line\n:memory\n", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v2, v1 := parseProcCgroup([]byte(tc.in))
			assert.Equal(t, tc.v2, v2)
			assert.Equal(t, tc.v1, v1)
		})
	}
}

func TestHasMemoryController(t *testing.T) {
	for _, tc := range []struct {
		list string
		want bool
	}{
		{"memory", true},
		{"rw,memory", true},
		{"cpu,memory,pids", true},
		{"", false},
		{"rw,cpu", false},
		{"memoryx,xmemory", false},
		{"Memory", false},
	} {
		assert.Equal(t, tc.want, hasMemoryController(tc.list), "%q", tc.list)
	}
}

func FuzzParseProcCgroup(f *testing.F) {
	for _, data := range fixtureSeeds(f, "cgroup") {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v2, v1 := parseProcCgroup(data)
		for _, p := range []string{v2, v1} {
			if p != "" {
				require.True(t, strings.HasPrefix(p, "/"), "%q", p)
				require.NotContains(t, p, "\n")
			}
		}
	})
}
