package sqs

// posHeap is a binary min-heap that records each item's position (through
// pos) so that any item can be removed or re-ordered in O(log n): receive,
// delete and visibility changes never scan a queue. Messages are kept in
// them by enqueue order, visibility time and age (msgHeap), and a FIFO
// queue's available groups by their first message (fifo.go).
type posHeap[T comparable] struct {
	items []T
	less  func(a, b T) bool
	pos   func(T) *int
}

// msgHeap is a heap of messages.
type msgHeap = posHeap[*message]

func (h *posHeap[T]) Len() int { return len(h.items) }

// top returns the least item, or the zero T when the heap is empty.
func (h *posHeap[T]) top() T {
	if len(h.items) == 0 {
		var zero T
		return zero
	}
	return h.items[0]
}

func (h *posHeap[T]) push(x T) {
	*h.pos(x) = len(h.items)
	h.items = append(h.items, x)
	h.up(len(h.items) - 1)
}

func (h *posHeap[T]) pop() T {
	if len(h.items) == 0 {
		var zero T
		return zero
	}
	x := h.items[0]
	h.remove(x)
	return x
}

// remove takes x out of the heap; x must be in it.
func (h *posHeap[T]) remove(x T) {
	i := *h.pos(x)
	last := len(h.items) - 1
	if i != last {
		h.swap(i, last)
	}
	var zero T
	h.items[last] = zero
	h.items = h.items[:last]
	*h.pos(x) = -1
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
}

// fix restores order after x's key changed.
func (h *posHeap[T]) fix(x T) {
	i := *h.pos(x)
	if !h.down(i) {
		h.up(i)
	}
}

func (h *posHeap[T]) reset() {
	for _, x := range h.items {
		*h.pos(x) = -1
	}
	h.items = nil
}

func (h *posHeap[T]) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	*h.pos(h.items[i]) = i
	*h.pos(h.items[j]) = j
}

func (h *posHeap[T]) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(h.items[j], h.items[i]) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h *posHeap[T]) down(i0 int) bool {
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
