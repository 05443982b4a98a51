package awsproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"
)

// encoding/json decodes invalid UTF-8 and \u escapes of unpaired UTF-16
// surrogates (\ud800 alone) silently, as U+FFFD. A service that decodes a
// request with it cannot tell such a string from one that held U+FFFD, so
// where AWS refuses text that is not Unicode it checks the raw body first:
// ValidText on every request (cheap: utf8.Valid, then a search for "\u"),
// InvalidStrings only when that fails, to find which strings are at fault.

// ValidText reports whether JSON document b is Unicode text throughout:
// valid UTF-8, and every \u escape of a surrogate one half of a high-low
// pair (RFC 8259 §8.2). It checks bytes, not JSON syntax: decode b as well.
func ValidText(b []byte) bool {
	return utf8.Valid(b) && !hasUnpairedSurrogate(b)
}

// hasUnpairedSurrogate reports whether b holds a \u escape of a surrogate
// that is not part of a high-low pair. It looks only at "\u": a body's
// other escapes (the \" of a JSON message body) cost nothing. A "\u" is
// an escape when an even number of backslashes precedes its own, so an
// escaped backslash followed by "ud800" is text.
func hasUnpairedSurrogate(b []byte) bool {
	for {
		i := bytes.Index(b, []byte(`\u`))
		if i < 0 {
			return false
		}
		n := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			n++
		}
		b = b[i:]
		if n%2 == 1 {
			b = b[2:] // an escaped backslash, then the letter u
			continue
		}
		r, ok := hex4(b[2:])
		switch {
		case !ok:
			b = b[2:] // a syntax error the decoder reports
		case r >= 0xDC00 && r <= 0xDFFF: // a low surrogate first
			return true
		case r >= 0xD800 && r <= 0xDBFF:
			if len(b) < 12 || b[6] != '\\' || b[7] != 'u' {
				return true
			}
			if lo, ok := hex4(b[8:]); !ok || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			b = b[12:]
		default:
			b = b[6:]
		}
	}
}

// hex4 decodes the four hex digits b starts with.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// ErrNotJSON is InvalidStrings' error for a body that is not one JSON
// value.
var ErrNotJSON = errors.New("awsproto: not a JSON document")

// InvalidStrings returns the path of every string in JSON document b
// (object keys included) that is not Unicode text in the sense of
// ValidText, in document order. A path names object members by their keys
// as encoding/json decodes them (U+FFFD for a bad key) and array elements
// by their decimal index; a bad key's path ends with the key itself. It
// returns ErrNotJSON when b is not one JSON value.
func InvalidStrings(b []byte) ([][]string, error) {
	type frame struct {
		object  bool
		wantKey bool   // in an object, the next token is a key
		key     string // in an object, the member being read
		index   int    // in an array, the element being read
	}
	var (
		dec   = json.NewDecoder(bytes.NewReader(b))
		stack []frame
		bad   [][]string
	)
	dec.UseNumber() // a number beyond float64 is still JSON
	path := func() []string {
		p := make([]string, len(stack))
		for i, f := range stack {
			if f.object {
				p[i] = f.key
			} else {
				p[i] = strconv.Itoa(f.index)
			}
		}
		return p
	}
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, ErrNotJSON
		}
		if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') {
			stack = append(stack, frame{object: d == '{', wantKey: d == '{'})
			continue
		}
		if s, ok := tok.(string); ok {
			valid := ValidText(b[start:dec.InputOffset()])
			if n := len(stack); n > 0 && stack[n-1].wantKey {
				stack[n-1].key, stack[n-1].wantKey = s, false
				if !valid {
					bad = append(bad, path())
				}
				continue
			}
			if !valid {
				bad = append(bad, path())
			}
		}
		if _, ok := tok.(json.Delim); ok { // '}' or ']'
			stack = stack[:len(stack)-1]
		}
		// A value ended: its container moves on, or the document is whole.
		n := len(stack)
		if n == 0 {
			break
		}
		if stack[n-1].object {
			stack[n-1].wantKey = true
		} else {
			stack[n-1].index++
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrNotJSON
	}
	return bad, nil
}
