package eventbus

// mailbox holds the deliveries of a subscription with a concurrency limit
// (WithConcurrency) that wait for one of its slots: one FIFO per priority
// level, so that a free slot takes High before Medium before Low, in
// admission order within a level. It is bounded by the subscription's
// buffer (WithBuffer), whose policy picks what is dropped when it is full.
// Its deliveries wait here instead of on a worker, so a subscription that
// is slow or stuck holds at most its limit of workers. It is not safe for
// concurrent use; the queue's mutex guards it.
type mailbox struct {
	sub     *Subscription
	levels  [numLevels]fifo[delivery]
	waiting int // deliveries in levels
	running int // views holding one of the subscription's slots
	limit   int // WithConcurrency
	size    int // WithBuffer's n
	policy  DropPolicy
	// inOrder keeps deliveries in admission order, whatever their level,
	// for a replaying subscription (see WithReplay): the replayed ones in
	// levels[1], all admitted before the live ones in levels[0]. replayed
	// counts the replayed deliveries waiting, which do not count against
	// the buffer.
	inOrder  bool
	replayed int
	// A mailbox with waiting deliveries and a free slot is in the queue's
	// ready list of its highest waiting level.
	readyPrev, readyNext *mailbox
	readyLevel           int8 // -1 when not listed
}

func newMailbox(s *Subscription, limit, size int, policy DropPolicy) *mailbox {
	return &mailbox{sub: s, limit: limit, size: size, policy: policy, readyLevel: -1}
}

// ready reports whether a worker may take deliveries from the mailbox.
func (m *mailbox) ready() bool { return m.waiting > 0 && m.running < m.limit }

// head returns the highest level with a waiting delivery, or -1; in
// admission order, the level of the first.
func (m *mailbox) head() int {
	if m.inOrder {
		lv := m.orderedLevel()
		if m.levels[lv].len() == 0 {
			return -1
		}
		return int(m.levels[lv].front().f.prio - 1)
	}
	for i := numLevels - 1; i >= 0; i-- {
		if m.levels[i].len() > 0 {
			return i
		}
	}
	return -1
}

// orderedLevel returns the FIFO an inOrder mailbox takes from next.
func (m *mailbox) orderedLevel() int {
	if m.levels[1].len() > 0 {
		return 1
	}
	return 0
}

// aside returns how many waiting deliveries exceed the buffer: under
// Block, those count against the bus's QueueSize.
func (m *mailbox) aside() int { return max(m.waiting-m.replayed-m.size, 0) }

// push adds d, dropping one delivery by the buffer's policy when the
// buffer is full: it returns the dropped one (d itself, or a waiting one
// it replaced) and true, or false when nothing was dropped. Under Block
// nothing is dropped: a delivery beyond the buffer waits set aside, and
// reports asideAdded so that the queue counts it.
func (m *mailbox) push(d delivery) (dropped delivery, drop, asideAdded bool) {
	lv := int(d.f.prio - 1)
	if m.inOrder {
		lv = 0
		if d.f.replay {
			lv = 1
		}
	}
	if d.f.replay {
		m.replayed++
	} else if m.waiting-m.replayed >= m.size {
		switch m.policy {
		case Block:
			asideAdded = true
		case DropNewest:
			return d, true, false
		case DropOldest:
			dropped = m.popOldest()
			drop = true
		case DropLowPri:
			if m.inOrder {
				// In admission order the lowest level is not at hand:
				// drop the oldest, as DropOldest.
				dropped = m.popOldest()
				drop = true
				break
			}
			// d is the newest of its level: it loses unless a waiting
			// delivery is of a strictly lower level.
			low := -1
			for i := 0; i < numLevels; i++ {
				if m.levels[i].len() > 0 {
					low = i
					break
				}
			}
			if low < 0 || low > lv {
				return d, true, false
			}
			dropped = m.levels[low].pop()
			m.waiting--
			drop = true
		}
	}
	m.levels[lv].push(d)
	m.waiting++
	return dropped, drop, asideAdded
}

// popOldest removes the waiting live delivery admitted first: never a
// replayed one.
func (m *mailbox) popOldest() delivery {
	if m.inOrder {
		m.waiting--
		return m.levels[0].pop()
	}
	best := -1
	for i := range m.levels {
		if m.levels[i].len() > 0 && (best < 0 || m.levels[i].front().f.seq < m.levels[best].front().f.seq) {
			best = i
		}
	}
	m.waiting--
	return m.levels[best].pop()
}

// take moves up to len(dst) deliveries of its highest waiting level into
// dst and returns how many, and how many of them had been set aside.
func (m *mailbox) take(dst []delivery) (n, unAside int) {
	before := m.aside()
	lv := m.head()
	if m.inOrder {
		lv = m.orderedLevel()
	}
	for n < len(dst) && m.levels[lv].len() > 0 {
		dst[n] = m.levels[lv].pop()
		if dst[n].f.replay {
			m.replayed--
		}
		n++
	}
	m.waiting -= n
	return n, before - m.aside()
}

// drain moves every waiting delivery to out and returns it, and how many
// had been set aside.
func (m *mailbox) drain(out []delivery) ([]delivery, int) {
	aside := m.aside()
	for i := range m.levels {
		for m.levels[i].len() > 0 {
			out = append(out, m.levels[i].pop())
		}
	}
	m.waiting, m.replayed = 0, 0
	return out, aside
}

// mailboxList is a list of mailboxes, linked through the mailboxes.
type mailboxList struct{ head, tail *mailbox }

func (l *mailboxList) push(m *mailbox, level int) {
	m.readyLevel = int8(level)
	m.readyPrev, m.readyNext = l.tail, nil
	if l.tail == nil {
		l.head = m
	} else {
		l.tail.readyNext = m
	}
	l.tail = m
}

func (l *mailboxList) remove(m *mailbox) {
	if m.readyPrev == nil {
		l.head = m.readyNext
	} else {
		m.readyPrev.readyNext = m.readyNext
	}
	if m.readyNext == nil {
		l.tail = m.readyPrev
	} else {
		m.readyNext.readyPrev = m.readyPrev
	}
	m.readyPrev, m.readyNext, m.readyLevel = nil, nil, -1
}
