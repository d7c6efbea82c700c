package eventbus

import (
	"math/rand/v2"
	"strings"
	"sync/atomic"
)

// idSource makes event IDs: a random prefix drawn once per bus, a dash,
// and a per-bus sequence number as 12 base-32 digits, such as
// "k3x9q2mf-0000000001a7". The sequence number makes IDs unique within a
// bus however many goroutines publish at once, and makes them sort in the
// order they were taken; the prefix makes a collision between two buses
// (in one process or several) unlikely. Neither the clock nor fmt is
// involved.
//
// IDs are cut from blocks: one string holding idBlockSize consecutive IDs,
// built by whichever publisher first needs it, so that the allocation is
// shared by a block's worth of events. An ID keeps its block's string
// alive; a block is under 3 KiB.
type idSource struct {
	prefix [idPrefixLen]byte
	n      atomic.Uint64
	block  atomic.Pointer[idBlock]
}

type idBlock struct {
	first uint64 // sequence number of the block's first ID
	ids   string // idBlockSize IDs of idLen bytes each, back to back
}

const (
	idPrefixLen = 9  // 8 base-32 digits and a dash
	idSeqLen    = 12 // base-32 digits of the sequence number (60 bits)
	idLen       = idPrefixLen + idSeqLen
	idBlockSize = 128
	idDigits    = "0123456789abcdefghijklmnopqrstuv"
)

func (s *idSource) init() {
	r := rand.Uint64()
	for i := 0; i < idPrefixLen-1; i++ {
		s.prefix[i] = idDigits[r&31]
		r >>= 5
	}
	s.prefix[idPrefixLen-1] = '-'
}

// next returns a new ID.
func (s *idSource) next() string {
	n := s.n.Add(1)
	first := n - n%idBlockSize
	b := s.block.Load()
	if b == nil || b.first != first {
		// The IDs of a block depend only on its first number, so two
		// publishers that build the same block build equal strings: no
		// coordination is needed beyond caching the newest one.
		b = s.newBlock(first)
		if cur := s.block.Load(); cur == nil || cur.first < first {
			s.block.CompareAndSwap(cur, b)
		}
	}
	i := int(n-first) * idLen
	return b.ids[i : i+idLen]
}

func (s *idSource) newBlock(first uint64) *idBlock {
	// A block starts at a multiple of 128 = 2^7, so its IDs differ only
	// in their last two base-32 digits: write the first ID whole, then
	// copy it and rewrite those two digits.
	buf := make([]byte, idBlockSize*idLen)
	id0 := buf[:idLen]
	copy(id0, s.prefix[:])
	v := first
	for d := idLen - 1; d >= idPrefixLen; d-- {
		id0[d] = idDigits[v&31]
		v >>= 5
	}
	high := first >> 10 << 10 // the part above the last two digits
	for k := 1; k < idBlockSize; k++ {
		id := buf[k*idLen : (k+1)*idLen]
		copy(id, id0)
		low := first + uint64(k) - high
		id[idLen-2] = idDigits[low>>5]
		id[idLen-1] = idDigits[low&31]
	}
	return &idBlock{first: first, ids: string(buf)}
}

// seqOf returns the sequence number of an ID this source made, and false
// for any other string, including one in this source's format with a
// number it has not handed out.
func (s *idSource) seqOf(id string) (uint64, bool) {
	if len(id) != idLen || id[:idPrefixLen] != string(s.prefix[:]) {
		return 0, false
	}
	var n uint64
	for i := idPrefixLen; i < idLen; i++ {
		d := idDigitValue[id[i]]
		if d < 0 {
			return 0, false
		}
		n = n<<5 | uint64(d)
	}
	return n, n != 0 && n <= s.n.Load()
}

// idDigitValue maps a byte to its value as a digit of idDigits, or -1.
var idDigitValue = func() (t [256]int8) {
	for i := range t {
		t[i] = int8(strings.IndexByte(idDigits, byte(i)))
	}
	return t
}()
