// Package fifoplan splits events among publishers for a FIFO topic so that
// each order's events are published in their order: all the events of one
// message group go to the same publisher, which sends its share in event
// order, one request after the other, while the groups of different
// publishers go side by side.
package fifoplan

import (
	"hash/fnv"

	"github.com/orderflow/orderflow"
)

// BatchSize is the most entries of one PublishBatch request.
const BatchSize = 10

// Shares splits the events 0..n-1 (whose bodies body returns) among
// workers publishers: each share is a list of batches of event indices,
// in event order, of at most BatchSize. The events of one group
// (orderflow.GroupKey of the body) are in one share.
func Shares(n int, body func(int) string, workers int) [][][]int {
	workers = max(1, workers)
	shares := make([][][]int, workers)
	for i := range n {
		h := fnv.New32a()
		h.Write([]byte(orderflow.GroupKey([]byte(body(i)))))
		w := int(h.Sum32() % uint32(workers))
		s := shares[w]
		if len(s) == 0 || len(s[len(s)-1]) == BatchSize {
			s = append(s, make([]int, 0, BatchSize))
		}
		s[len(s)-1] = append(s[len(s)-1], i)
		shares[w] = s
	}
	return shares
}
