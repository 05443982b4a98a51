package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// ErrCorrupt is the error of a Decoder given bytes no Encoder wrote.
var ErrCorrupt = errors.New("malformed record")

// Encoder builds a record value: varints and length-prefixed bytes, in the
// order the matching Decoder reads them. It is faster than encoding/json or
// gob for the services' hot path and has no reflection.
type Encoder struct{ b []byte }

// NewEncoder returns an Encoder with room for size bytes.
func NewEncoder(size int) *Encoder { return &Encoder{b: make([]byte, 0, size)} }

// Bytes returns what was encoded.
func (e *Encoder) Bytes() []byte { return e.b }

// Uint appends v.
func (e *Encoder) Uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }

// Int appends v.
func (e *Encoder) Int(v int64) { e.b = binary.AppendVarint(e.b, v) }

// Bool appends v.
func (e *Encoder) Bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// Str appends s.
func (e *Encoder) Str(s string) {
	e.Uint(uint64(len(s)))
	e.b = append(e.b, s...)
}

// Blob appends b; a nil and an empty b decode alike, as nil.
func (e *Encoder) Blob(b []byte) {
	e.Uint(uint64(len(b)))
	e.b = append(e.b, b...)
}

// Time appends t to the nanosecond; the zero time stays zero.
func (e *Encoder) Time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.Int(t.UnixNano())
}

// StrMap appends m, in key order so that equal maps encode alike.
func (e *Encoder) StrMap(m map[string]string) {
	e.Uint(uint64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		e.Str(k)
		e.Str(m[k])
	}
}

// Decoder reads what an Encoder wrote. After the first malformed read every
// read returns a zero value and Err reports the problem, so callers check
// once at the end.
type Decoder struct {
	b   []byte
	err error
}

// NewDecoder reads b. Strings and blobs it returns are copies: b may be
// bbolt's memory, valid only inside its transaction.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Err returns the first error, or, when every read succeeded, an error if
// bytes are left over.
func (d *Decoder) Err() error {
	if d.err == nil && len(d.b) > 0 {
		return fmt.Errorf("%w: %d bytes left over", ErrCorrupt, len(d.b))
	}
	return d.err
}

// More reports whether bytes are left to read: a record that grew fields
// at its end reads them only when they are there.
func (d *Decoder) More() bool { return d.err == nil && len(d.b) > 0 }

func (d *Decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrCorrupt, what)
	}
	d.b = nil
}

// Uint reads an unsigned varint.
func (d *Decoder) Uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("unsigned integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Int reads a signed varint.
func (d *Decoder) Int() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Bool reads a bool.
func (d *Decoder) Bool() bool {
	if d.err != nil {
		return false
	}
	if len(d.b) == 0 || d.b[0] > 1 {
		d.fail("bool")
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

func (d *Decoder) raw(what string) []byte {
	n := d.Uint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(what + " length")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// Str reads a string.
func (d *Decoder) Str() string { return string(d.raw("string")) }

// Blob reads a byte slice (nil when empty).
func (d *Decoder) Blob() []byte {
	v := d.raw("blob")
	if len(v) == 0 {
		return nil
	}
	return slices.Clone(v)
}

// Time reads a time (in UTC, or the zero time).
func (d *Decoder) Time() time.Time {
	if d.err != nil {
		return time.Time{}
	}
	if len(d.b) == 0 || d.b[0] > 1 {
		d.fail("time")
		return time.Time{}
	}
	set := d.b[0] == 1
	d.b = d.b[1:]
	if !set {
		return time.Time{}
	}
	return time.Unix(0, d.Int()).UTC()
}

// Len reads a count of items that each take at least min bytes, refusing
// counts the remaining bytes cannot hold (so that a damaged count cannot
// make the caller allocate without bound).
func (d *Decoder) Len(min int) int {
	n := d.Uint()
	if d.err != nil {
		return 0
	}
	if min < 1 {
		min = 1
	}
	if n > uint64(len(d.b)/min) {
		d.fail("count")
		return 0
	}
	return int(n)
}

// StrMap reads a map written by Encoder.StrMap (never nil).
func (d *Decoder) StrMap() map[string]string {
	n := d.Len(2)
	m := make(map[string]string, n)
	for i := 0; i < n && d.err == nil; i++ {
		k := d.Str()
		m[k] = d.Str()
	}
	return m
}
