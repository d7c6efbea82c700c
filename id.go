package eventbus

import (
	"math/rand/v2"
	"strconv"
	"sync/atomic"
)

// idSource makes event IDs: a random prefix drawn once per bus, a dash,
// and a per-bus counter in base 36, such as "k3x9q2mf-1a". The counter
// makes IDs unique within a bus however many goroutines publish at once;
// the prefix makes a collision between two buses (in one process or
// several) unlikely. Neither the clock nor fmt is involved: making an ID is
// one atomic add and one small string allocation.
type idSource struct {
	prefix [9]byte // 8 base-32 digits and a dash
	n      atomic.Uint64
}

const idDigits = "0123456789abcdefghijklmnopqrstuv"

func (s *idSource) init() {
	r := rand.Uint64()
	for i := 0; i < 8; i++ {
		s.prefix[i] = idDigits[r&31]
		r >>= 5
	}
	s.prefix[8] = '-'
}

func (s *idSource) next() string {
	var buf [9 + 13]byte // 13 base-36 digits hold any uint64
	copy(buf[:], s.prefix[:])
	return string(strconv.AppendUint(buf[:9], s.n.Add(1), 36))
}
