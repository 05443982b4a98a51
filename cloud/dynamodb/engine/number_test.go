package engine

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/truora/minidyn/types"
)

func TestNumbersParseToDynamoDBsLimits(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in      string
		wantErr error
	}{
		{"0", nil}, {"-0", nil}, {"007", nil}, {"1.50", nil}, {".5", nil}, {"5.", nil}, {"1e2", nil}, {"-1E-2", nil},
		{"12345678901234567890123456789012345678", nil},
		{"123456789012345678901234567890123456789", errNumberDigits},
		{"1E+125", nil}, {"9.9E+125", nil}, {"1E+126", errNumberOverflow},
		{"1E-130", nil}, {"1E-131", errNumberUnderflow}, {"0E-999", nil},
		{"", errNumberSyntax}, {"abc", errNumberSyntax}, {"1..2", errNumberSyntax}, {"1e", errNumberSyntax}, {"--1", errNumberSyntax}, {" 1", errNumberSyntax}, {"0x10", errNumberSyntax},
	} {
		_, err := parseNumber(tt.in)
		if err != tt.wantErr {
			t.Errorf("parseNumber(%q) error = %v, want %v", tt.in, err, tt.wantErr)
		}
	}
}

func TestNumberKeysSortAsDecimals(t *testing.T) {
	t.Parallel()
	// In ascending order; equal values on one line.
	ordered := [][]string{
		{"-1E+125"}, {"-100"}, {"-10", "-1e1", "-10.000"}, {"-9.99"}, {"-9.9"}, {"-1"}, {"-0.5", "-.5"}, {"-1E-130"},
		{"0", "-0", "0.000", "0e5"},
		{"1E-130"}, {"0.1", "1e-1"}, {"0.10000000000000000000000000000000000001"}, {"0.3"}, {"1", "1.0", "01"}, {"2.5"}, {"9"}, {"10"}, {"99.999"}, {"100"},
		{"12345678901234567890123456789012345678"}, {"9.9E+125"},
	}
	var prev []byte
	for i, group := range ordered {
		var first []byte
		for _, s := range group {
			d, err := parseNumber(s)
			if err != nil {
				t.Fatalf("parseNumber(%q): %v", s, err)
			}
			k := appendNumberKey(nil, d)
			if first == nil {
				first = k
			} else if !bytes.Equal(k, first) {
				t.Errorf("%q and %q are equal numbers with different keys", group[0], s)
			}
		}
		if i > 0 && bytes.Compare(prev, first) >= 0 {
			t.Errorf("%q does not sort after %q", group[0], ordered[i-1][0])
		}
		prev = first
	}
}

func TestNumberKeysAgreeWithFloatOrderOnRandomNumbers(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	nums := make([]float64, 500)
	for i := range nums {
		nums[i] = (r.Float64() - 0.5) * float64(r.IntN(1_000_000))
	}
	keys := func(f float64) []byte {
		d, err := parseNumber(strconv.FormatFloat(f, 'g', -1, 64))
		if err != nil {
			t.Fatal(err)
		}
		return appendNumberKey(nil, d)
	}
	byKey := slices.Clone(nums)
	slices.SortFunc(byKey, func(a, b float64) int { return bytes.Compare(keys(a), keys(b)) })
	slices.Sort(nums)
	if !slices.Equal(byKey, nums) {
		t.Error("sorting by key does not sort the numbers")
	}
}

func TestStringKeysArePrefixFreeAndOrdered(t *testing.T) {
	t.Parallel()
	in := []string{"", "\x00", "\x00\x00", "\x00a", "a", "a\x00", "a\x00b", "a\x01", "ab", "b", "\xff"}
	var prev []byte
	for i, s := range in {
		k := appendKeyValue(nil, "S", &types.Item{S: &s})
		if i > 0 {
			if bytes.Compare(prev, k) >= 0 {
				t.Errorf("key of %q does not sort after the previous one", s)
			}
			if bytes.HasPrefix(k, prev) {
				t.Errorf("key of %q has the previous key as a prefix", s)
			}
		}
		prev = k
	}
}

func TestItemsSurviveTheStorageEncoding(t *testing.T) {
	t.Parallel()
	str, num, yes := "héllo\x00", "-1.5e3", true
	it := item{
		"s": {S: &str}, "n": {N: &num}, "b": {B: []byte{0, 255}}, "t": {BOOL: &yes}, "null": {NULL: &yes},
		"ss": {SS: []*string{&str}}, "ns": {NS: []*string{&num}}, "bs": {BS: [][]byte{{1}, {}}},
		"l": {L: []*types.Item{{S: &str}, {L: []*types.Item{}}}}, "m": {M: item{"k": {N: &num}, "e": {M: item{}}}},
		"empty": {S: new(string)},
	}
	got, err := decodeItem(encodeItem(it))
	if err != nil {
		t.Fatal(err)
	}
	if string(appendJSONItemSorted(got)) != string(appendJSONItemSorted(it)) {
		t.Errorf("round trip changed the item:\n got %s\nwant %s", appendJSONItemSorted(got), appendJSONItemSorted(it))
	}
	for _, bad := range [][]byte{nil, {5}, {1, 200}, {1, 1, 'a', 99}} {
		if _, err := decodeItem(bad); err == nil {
			t.Errorf("decodeItem(%v) error = nil, want corrupt", bad)
		}
	}
}

// appendJSONItemSorted renders an item canonically (encoding/json sorts
// map keys at every level), for comparisons.
func appendJSONItemSorted(it item) []byte {
	var v any
	if err := json.Unmarshal(appendJSONItem(nil, it), &v); err != nil {
		return []byte("invalid JSON: " + err.Error())
	}
	b, _ := json.Marshal(v)
	return b
}
