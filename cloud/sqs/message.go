package sqs

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"math/big"
	"sort"
	"strings"
	"unicode/utf8"
)

// AWS's limits for messages.
const (
	// MaxMessageBytes bounds one message (body and attributes) and one
	// batch request's payload: 1 MiB.
	MaxMessageBytes = 1 << 20
	// MaxMessageAttributes is the most message attributes a message has.
	MaxMessageAttributes = 10
	maxBatchEntries      = 10
	maxDelaySeconds      = 900
	maxVisibility        = 12 * 60 * 60
	maxWaitSeconds       = 20
)

// MessageAttributeValue is one message attribute: DataType is String,
// Number or Binary, optionally followed by ".customType"; String and Number
// values are in StringValue, Binary values in BinaryValue.
type MessageAttributeValue struct {
	DataType    string
	StringValue string
	BinaryValue []byte
}

// isBinary reports whether the value is carried as bytes.
func (v MessageAttributeValue) isBinary() bool { return strings.HasPrefix(v.DataType, "Binary") }

// size is what the value counts towards the message size limit.
func attributesSize(attrs map[string]MessageAttributeValue) int {
	n := 0
	for name, v := range attrs {
		n += len(name) + len(v.DataType) + len(v.StringValue) + len(v.BinaryValue)
	}
	return n
}

// md5OfAttributes is MD5OfMessageAttributes as AWS computes it: for each
// attribute in ascending order of name, the name, the data type (each as a
// 4-byte big-endian length and the bytes), a transport byte (1 for String
// and Number, 2 for Binary) and the value (length-prefixed likewise). No
// attributes means no digest.
func md5OfAttributes(attrs map[string]MessageAttributeValue) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	h := md5.New()
	var l [4]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint32(l[:], uint32(len(b)))
		h.Write(l[:])
		h.Write(b)
	}
	for _, n := range names {
		v := attrs[n]
		put([]byte(n))
		put([]byte(v.DataType))
		if v.isBinary() {
			h.Write([]byte{2})
			put(v.BinaryValue)
		} else {
			h.Write([]byte{1})
			put([]byte(v.StringValue))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	var h [2 * md5.Size]byte
	hex.Encode(h[:], sum[:])
	return string(h[:])
}

// validBodyChars reports whether s holds only the characters SQS accepts:
// #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.
// Bytes that are not UTF-8 are no characters at all, and a surrogate
// (which a Query request can only send as its three-byte encoding) is not
// UTF-8 either.
func validBodyChars(s string) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return false
			}
		}
		switch {
		case r == 0x9 || r == 0xA || r == 0xD:
		case r >= 0x20 && r <= 0xD7FF:
		case r >= 0xE000 && r <= 0xFFFD:
		case r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
	}
	return true
}

// errBadChars is InvalidMessageContents for a part of a message (the
// message body, message attribute 'k') holding characters SQS does not
// take, or text that is not Unicode: a message's text is checked whole,
// whichever protocol brought it.
func errBadChars(part string) error {
	return errInvalidMessageContents("Invalid binary character in %s. Only #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF are allowed.", part)
}

// validateMessageAttributes applies AWS's rules to message attributes
// (system is true for MessageSystemAttributes, where only AWSTraceHeader
// exists).
func validateMessageAttributes(attrs map[string]MessageAttributeValue, system bool) error {
	if system {
		for name, v := range attrs {
			if !utf8.ValidString(name) || !utf8.ValidString(v.DataType) || !validBodyChars(v.StringValue) {
				return errBadChars("message system attribute '" + strings.ToValidUTF8(name, "\uFFFD") + "'")
			}
			if name != "AWSTraceHeader" {
				return errInvalidParameter("Message system attribute name '%s' is invalid.", name)
			}
			if v.DataType != "String" || v.StringValue == "" {
				return errInvalidParameter("Message system attribute %s must be a non-empty String.", name)
			}
		}
		return nil
	}
	if len(attrs) > MaxMessageAttributes {
		return errInvalidParameter("Number of message attributes [%d] exceeds the allowed maximum [%d].", len(attrs), MaxMessageAttributes)
	}
	for name, v := range attrs {
		if !utf8.ValidString(name) || !utf8.ValidString(v.DataType) || (!v.isBinary() && !validBodyChars(v.StringValue)) {
			return errBadChars("message attribute '" + strings.ToValidUTF8(name, "\uFFFD") + "'")
		}
		if err := validateAttributeName(name); err != nil {
			return err
		}
		if v.DataType == "" {
			return errInvalidParameter("The message attribute '%s' must contain non-empty message attribute type.", name)
		}
		base, custom, hasCustom := strings.Cut(v.DataType, ".")
		if len(v.DataType) > 256 || (hasCustom && custom == "") || !validCustomType(custom) {
			return errInvalidParameter("The message attribute '%s' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.", name)
		}
		switch base {
		case "String", "Number":
			if v.StringValue == "" {
				return errInvalidParameter("The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", name, base)
			}
			if len(v.BinaryValue) > 0 {
				return errInvalidParameter("The message attribute '%s' with type '%s' must use field 'String'.", name, base)
			}
			if base == "Number" && !validNumber(v.StringValue) {
				return errInvalidParameter("Can't cast the value of message (user) attribute '%s' to a number.", name)
			}
		case "Binary":
			if len(v.BinaryValue) == 0 {
				return errInvalidParameter("The message attribute '%s' must contain non-empty message attribute value for message attribute type 'Binary'.", name)
			}
			if v.StringValue != "" {
				return errInvalidParameter("The message attribute '%s' with type 'Binary' must use field 'Binary'.", name)
			}
		default:
			return errInvalidParameter("The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", name)
		}
	}
	return nil
}

func validCustomType(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return true
}

// validateAttributeName: A-Za-z0-9, underscore, hyphen and period; at most
// 256 characters; not starting with AWS. or Amazon. (any case); no leading,
// trailing or consecutive periods.
func validateAttributeName(name string) error {
	bad := func(reason string) error {
		return errInvalidParameter("Message (user) attribute name '%s' is invalid. %s", name, reason)
	}
	if name == "" {
		return errInvalidParameter("The request must contain non-empty message (user) attribute names.")
	}
	if len(name) > 256 {
		return bad("The attribute name must be at most 256 characters long.")
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
		return bad("The attribute name must not start with AWS-reserved prefixes 'AWS.' or 'Amazon.'.")
	}
	if name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..") {
		return bad("The attribute name cannot start or end with a period or contain consecutive periods.")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return bad("The attribute name can contain only alphanumeric characters, hyphens, underscores and periods.")
		}
	}
	return nil
}

// validNumber accepts what SQS's Number type holds: a decimal with up to 38
// significant digits, between -10^128 and 10^126.
func validNumber(s string) bool {
	f, _, err := big.ParseFloat(strings.TrimSpace(s), 10, 256, big.ToNearestEven)
	if err != nil || f.IsInf() {
		return false
	}
	if f.Sign() == 0 {
		return true
	}
	exp := f.MantExp(nil) // |f| is in [2^(exp-1), 2^exp)
	// 10^126 ≈ 2^418.6 and 10^-128 ≈ 2^-425.2.
	return exp <= 419 && exp >= -425
}

// messageAttributeSelected reports whether ReceiveMessage's
// MessageAttributeNames select name: "All", ".*", an exact name, or
// "prefix.*".
func messageAttributeSelected(selectors []string, name string) bool {
	for _, s := range selectors {
		switch {
		case s == "All" || s == ".*":
			return true
		case s == name:
			return true
		case strings.HasSuffix(s, ".*") && strings.HasPrefix(name, s[:len(s)-1]):
			return true
		}
	}
	return false
}
