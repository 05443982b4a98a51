package engine

import (
	"errors"
	"strings"
)

// DynamoDB numbers are decimals of up to 38 significant digits whose
// magnitude lies between 1E-130 and 9.99…E+125. They are compared as
// decimals, never as binary floats: 10 > 9 and 0.1 + 0.2 = 0.3.
const (
	maxNumberDigits = 38
	minNumberExp    = -129 // 0.d × 10^-129 = d × 10^-130
	maxNumberExp    = 126  // 0.999… × 10^126 = 9.99… × 10^125
)

var (
	errNumberSyntax    = errors.New("The parameter cannot be converted to a numeric value")
	errNumberDigits    = errors.New("Attempting to store more than 38 significant digits in a Number")
	errNumberOverflow  = errors.New("Number overflow. Attempting to store a number with magnitude larger than supported range")
	errNumberUnderflow = errors.New("Number underflow. Attempting to store a number with magnitude smaller than supported range")
)

// decimal is a parsed number: 0.digits × 10^exp, negated if neg. digits has
// no leading or trailing zeros; it is empty for zero.
type decimal struct {
	neg    bool
	digits string
	exp    int
}

// parseNumber parses a DynamoDB number (optional sign, digits with an
// optional point, optional exponent) and checks DynamoDB's limits.
func parseNumber(s string) (decimal, error) {
	var d decimal
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		d.neg = s[i] == '-'
		i++
	}
	var mant strings.Builder
	point, seenPoint, nDigits := 0, false, 0
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			nDigits++
			if mant.Len() == 0 && c == '0' { // a leading zero
				if seenPoint {
					point--
				}
				continue
			}
			mant.WriteByte(c)
			if !seenPoint {
				point++
			}
		case c == '.' && !seenPoint:
			seenPoint = true
		default:
			goto exponent
		}
	}
exponent:
	if nDigits == 0 {
		return d, errNumberSyntax
	}
	e := 0
	if i < len(s) {
		if s[i] != 'e' && s[i] != 'E' {
			return d, errNumberSyntax
		}
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		if i == len(s) {
			return d, errNumberSyntax
		}
		for ; i < len(s); i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return d, errNumberSyntax
			}
			if e < 1_000_000 { // beyond any valid exponent; keep counting digits only
				e = e*10 + int(c-'0')
			}
		}
		if eneg {
			e = -e
		}
	}
	digits := strings.TrimRight(mant.String(), "0")
	if digits == "" {
		return decimal{}, nil
	}
	d.digits = digits
	d.exp = point + e
	switch {
	case len(digits) > maxNumberDigits:
		return d, errNumberDigits
	case d.exp > maxNumberExp:
		return d, errNumberOverflow
	case d.exp < minNumberExp:
		return d, errNumberUnderflow
	}
	return d, nil
}

// appendNumberKey appends an order-preserving, prefix-free encoding of d:
// comparing two encodings byte by byte compares the numbers.
//
//	zero      0x80
//	positive  0xC0, exponent (2 bytes, biased), digit+1 …, 0x00
//	negative  0x40, complemented exponent, 0xFE-digit …, 0xFF
func appendNumberKey(b []byte, d decimal) []byte {
	if d.digits == "" {
		return append(b, 0x80)
	}
	e := uint16(d.exp + 0x8000)
	if !d.neg {
		b = append(b, 0xC0, byte(e>>8), byte(e))
		for i := 0; i < len(d.digits); i++ {
			b = append(b, d.digits[i]-'0'+1)
		}
		return append(b, 0x00)
	}
	e = ^e
	b = append(b, 0x40, byte(e>>8), byte(e))
	for i := 0; i < len(d.digits); i++ {
		b = append(b, 0xFE-(d.digits[i]-'0'))
	}
	return append(b, 0xFF)
}

// numberSize is the storage size DynamoDB counts for a number: about one
// byte per two significant digits, plus one.
func numberSize(d decimal) int {
	return (len(d.digits)+1)/2 + 1
}
