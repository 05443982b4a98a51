package sns

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// DumpForTest renders s's topics, subscriptions and pending retries
// canonically, so that a test can compare a service with one loaded from
// its data file.
func DumpForTest(s *Service) string {
	var b strings.Builder
	s.mu.RLock()
	for _, arn := range slices.Sorted(maps.Keys(s.topics)) {
		t := s.topics[arn]
		fmt.Fprintf(&b, "topic %s %x\n", arn, topicValue(t))
		if t.fifo {
			now := s.clock.Now()
			t.pub.mu.Lock()
			fmt.Fprintf(&b, "  sequence reserved %d\n", t.pub.reserved)
			for _, k := range slices.Sorted(maps.Keys(t.pub.dedup)) {
				if e := t.pub.dedup[k]; now.Before(e.expires) {
					fmt.Fprintf(&b, "  dedup %q %x\n", k, dedupValue(e))
				}
			}
			t.pub.mu.Unlock()
		}
		for _, sub := range t.subs {
			fmt.Fprintf(&b, "  subscription %s %x\n", sub.arn, subscriptionValue(sub))
		}
	}
	fmt.Fprintf(&b, "%d subscriptions\n", len(s.subs))
	s.mu.RUnlock()
	s.timersMu.Lock()
	var retries []string
	for rt := range s.timers {
		retries = append(retries, fmt.Sprintf("retry %s %x\n", rt.job.id, retryValue(rt.job)))
	}
	for _, c := range s.chains {
		for _, j := range c.waiting {
			retries = append(retries, fmt.Sprintf("retry %s %x\n", j.id, retryValue(j)))
		}
	}
	for _, j := range s.recovered {
		retries = append(retries, fmt.Sprintf("retry %s %x\n", j.id, retryValue(j)))
	}
	s.timersMu.Unlock()
	slices.Sort(retries)
	b.WriteString(strings.Join(retries, ""))
	return b.String()
}

// FlushJournal returns once every change recorded so far is in the data
// file itself, not only in its write-ahead log.
func (s *Service) FlushJournal() error { return s.j.Flush() }

// ClosingForTest reports whether Close has begun.
func ClosingForTest(s *Service) bool {
	s.timersMu.Lock()
	defer s.timersMu.Unlock()
	return s.closed
}

// TopicARNForTest is the ARN of the topic named name.
func (s *Service) TopicARNForTest(name string) string { return s.topicARN(name) }
