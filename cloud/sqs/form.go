package sqs

import (
	"slices"
	"strconv"
	"strings"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// formStructs returns what f.Structs(prefix) returns — the structures
// sent as prefix.N.Member=…, each a Form of its members, in index order —
// in one pass over f rather than one per index: a batch of ten entries
// would otherwise scan every key ten times. Like Structs it takes N as
// written in decimal without sign or leading zero, above 0.
func formStructs(f awsproto.Form, prefix string) []awsproto.Form {
	var byIndex map[int]awsproto.Form
	for k, v := range f {
		if len(k) <= len(prefix)+1 || k[len(prefix)] != '.' || !strings.HasPrefix(k, prefix) {
			continue
		}
		num, member, ok := strings.Cut(k[len(prefix)+1:], ".")
		if !ok || num == "" || num[0] < '1' || num[0] > '9' {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil || n <= 0 || strconv.Itoa(n) != num {
			continue
		}
		if byIndex == nil {
			byIndex = make(map[int]awsproto.Form)
		}
		sub := byIndex[n]
		if sub == nil {
			sub = make(awsproto.Form, 4)
			byIndex[n] = sub
		}
		sub[member] = v
	}
	if len(byIndex) == 0 {
		return nil
	}
	idx := make([]int, 0, len(byIndex))
	for n := range byIndex {
		idx = append(idx, n)
	}
	slices.Sort(idx)
	out := make([]awsproto.Form, len(idx))
	for i, n := range idx {
		out[i] = byIndex[n]
	}
	return out
}
