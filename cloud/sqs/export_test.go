package sqs

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// DumpForTest renders e's queues, messages and move tasks as they stand
// at now, canonically, so that a test can compare an engine with one
// reloaded from its data file. A delayed or in-flight message whose time
// has come shows as visible: the file does not record that transition.
func DumpForTest(e *Engine, now time.Time) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var b strings.Builder
	for _, name := range sortedKeys(e.queues) {
		q := e.queues[name]
		fmt.Fprintf(&b, "queue %s %x\n", name, encodeQueue(q))
		msgs := make([]*message, 0, len(q.msgs))
		for _, m := range q.msgs {
			msgs = append(msgs, m)
		}
		slices.SortFunc(msgs, func(a, b *message) int { return int(a.seq) - int(b.seq) })
		for _, m := range msgs {
			state := m.state
			if state != stateReady && !m.visibleAt.After(now) {
				state = stateReady
			}
			f := fixedPart{
				id: m.id, body: m.body, md5Body: m.md5Body, md5Attrs: m.md5Attrs, md5Sys: m.md5Sys,
				senderID: m.senderID, groupID: m.groupID, deadLetterOf: m.deadLetterOf,
				attrs: m.attrs, sysAttrs: m.sysAttrs, sentAt: m.sentAt, dedupID: m.dedupID, sn: m.sn,
			}
			fmt.Fprintf(&b, "  message %d %x state=%d visible=%d count=%d first=%d received=%d gen=%d\n",
				m.seq, f.encode(), state, m.visibleAt.UnixNano(), m.receiveCount, m.firstReceive.UnixNano(), m.receivedAt.UnixNano(), m.receiptGen)
		}
		for _, t := range q.tasks {
			fmt.Fprintf(&b, "  task %s %x\n", t.TaskHandle, encodeTask(t))
		}
		if f := q.fifo; f != nil {
			for _, k := range sortedKeys(f.dedup) {
				if d := f.dedup[k]; now.Before(d.expires) {
					fmt.Fprintf(&b, "  dedup %q %s %d %d\n", k, d.messageID, d.sn, d.expires.UnixNano())
				}
			}
		}
	}
	return b.String()
}

// TasksForTest returns how many move tasks e remembers.
func TasksForTest(e *Engine) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.tasks)
}

// FifoGroupsForTest returns how many message groups a FIFO queue holds
// (visible or in flight) and how many are available to a receive.
func FifoGroupsForTest(e *Engine, name string) (groups, available int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.queues[name]
	if q == nil || q.fifo == nil {
		return 0, 0
	}
	return len(q.fifo.groups), len(q.fifo.avail.items)
}
