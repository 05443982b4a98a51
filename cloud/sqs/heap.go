package sqs

// msgHeap is a binary min-heap of messages that records each message's
// position (through pos) so that any message can be removed or re-ordered
// in O(log n): receive, delete and visibility changes never scan a queue.
type msgHeap struct {
	items []*message
	less  func(a, b *message) bool
	pos   func(m *message) *int
}

func (h *msgHeap) Len() int { return len(h.items) }

func (h *msgHeap) top() *message {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

func (h *msgHeap) push(m *message) {
	*h.pos(m) = len(h.items)
	h.items = append(h.items, m)
	h.up(len(h.items) - 1)
}

func (h *msgHeap) pop() *message {
	if len(h.items) == 0 {
		return nil
	}
	m := h.items[0]
	h.remove(m)
	return m
}

// remove takes m out of the heap; m must be in it.
func (h *msgHeap) remove(m *message) {
	i := *h.pos(m)
	last := len(h.items) - 1
	if i != last {
		h.swap(i, last)
	}
	h.items[last] = nil
	h.items = h.items[:last]
	*h.pos(m) = -1
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
}

// fix restores order after m's key changed.
func (h *msgHeap) fix(m *message) {
	i := *h.pos(m)
	if !h.down(i) {
		h.up(i)
	}
}

func (h *msgHeap) reset() {
	for _, m := range h.items {
		*h.pos(m) = -1
	}
	h.items = nil
}

func (h *msgHeap) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	*h.pos(h.items[i]) = i
	*h.pos(h.items[j]) = j
}

func (h *msgHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(h.items[j], h.items[i]) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h *msgHeap) down(i0 int) bool {
	i, n := i0, len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(h.items[r], h.items[l]) {
			j = r
		}
		if !h.less(h.items[j], h.items[i]) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}
