package engine

import (
	"bytes"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/truora/minidyn/types"
)

// item is an item or a key as the interpreter reads it.
type item = map[string]*types.Item

// MaxItemBytes is DynamoDB's item size limit (400 KB).
const MaxItemBytes = 400 * 1024

// maxDepth is how deeply lists and maps may nest (DynamoDB allows 32).
const maxDepth = 32

// typeOf returns the one data type set in v ("S", "N", …) or an error when
// none or several are set, as DynamoDB words it.
func typeOf(v *types.Item) (string, error) {
	if v == nil {
		return "", errf("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
	}
	typ, n := "", 0
	set := func(ok bool, t string) {
		if ok {
			typ = t
			n++
		}
	}
	set(v.S != nil, "S")
	set(v.N != nil, "N")
	set(v.B != nil, "B")
	set(v.BOOL != nil, "BOOL")
	set(v.NULL != nil, "NULL")
	set(v.SS != nil, "SS")
	set(v.NS != nil, "NS")
	set(v.BS != nil, "BS")
	set(v.L != nil, "L")
	set(v.M != nil, "M")
	switch n {
	case 0:
		return "", errf("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
	case 1:
		return typ, nil
	default:
		return "", errf("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
	}
}

// validateValue checks one attribute value the way DynamoDB checks a
// request: one data type, valid numbers, non-empty sets without duplicates,
// NULL only true, bounded nesting. It returns the value's size in bytes as
// DynamoDB counts it (without the attribute name).
func validateValue(v *types.Item, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errf("Nesting Levels have exceeded supported limits")
	}
	typ, err := typeOf(v)
	if err != nil {
		return 0, err
	}
	switch typ {
	case "S":
		if !utf8.ValidString(*v.S) { // decode refuses such text from the wire
			return 0, errf("%s", msgNotUnicode)
		}
		return len(*v.S), nil
	case "N":
		d, err := parseNumber(*v.N)
		if err != nil {
			return 0, &apiError{status: 400, code: codeValidation, msg: err.Error()}
		}
		return numberSize(d), nil
	case "B":
		return len(v.B), nil
	case "BOOL":
		return 1, nil
	case "NULL":
		if !*v.NULL {
			return 0, errf("One or more parameter values were invalid: Null attribute value types must have the value of true")
		}
		return 1, nil
	case "SS", "NS", "BS":
		return validateSet(v, typ)
	case "L":
		size := 3
		for _, e := range v.L {
			n, err := validateValue(e, depth+1)
			if err != nil {
				return 0, err
			}
			size += n + 1
		}
		return size, nil
	default: // M
		size := 3
		for k, e := range v.M {
			n, err := validateValue(e, depth+1)
			if err != nil {
				return 0, err
			}
			size += len(k) + n + 1
		}
		return size, nil
	}
}

func validateSet(v *types.Item, typ string) (int, error) {
	names := map[string]string{"SS": "string set ", "NS": "number set ", "BS": "binary set "}
	n := len(v.SS) + len(v.NS) + len(v.BS)
	if n == 0 {
		return 0, errf("One or more parameter values were invalid: An %s may not be empty", names[typ])
	}
	if err := types.ValidateItemAttributeValue(v); err != nil {
		return 0, errf("%s", err.Error())
	}
	size := 0
	switch typ {
	case "SS":
		for _, s := range v.SS {
			if s == nil {
				return 0, errf("One or more parameter values were invalid: a string set holds a null")
			}
			size += len(*s)
		}
	case "NS":
		seen := map[string]bool{}
		for _, s := range v.NS {
			if s == nil {
				return 0, errf("One or more parameter values were invalid: a number set holds a null")
			}
			d, err := parseNumber(*s)
			if err != nil {
				return 0, &apiError{status: 400, code: codeValidation, msg: err.Error()}
			}
			k := string(appendNumberKey(nil, d))
			if seen[k] {
				return 0, errf("Input collection contains duplicates")
			}
			seen[k] = true
			size += numberSize(d)
		}
	case "BS":
		for _, b := range v.BS {
			size += len(b)
		}
	}
	return size, nil
}

// validateItem checks every attribute of an item and returns its size.
func validateItem(it item) (int, error) {
	size := 0
	for name, v := range it {
		n, err := validateValue(v, 0)
		if err != nil {
			return 0, err
		}
		size += len(name) + n
	}
	return size, nil
}

// keyAttr is one key attribute of a table or index.
type keyAttr struct {
	name string
	typ  string // S, N or B
}

// appendKeyValue appends the order-preserving, prefix-free encoding of key
// value v of type typ: numbers as decimals, strings and binaries as their
// bytes with 0x00 escaped as 0x00 0xFF and ended by 0x00 0x01.
func appendKeyValue(b []byte, typ string, v *types.Item) []byte {
	switch typ {
	case "N":
		d, _ := parseNumber(*v.N) // validated before
		return appendNumberKey(b, d)
	case "S":
		return append(appendEscaped(b, []byte(*v.S)), 0x00, 0x01)
	default:
		return append(appendEscaped(b, v.B), 0x00, 0x01)
	}
}

func appendEscaped(b, raw []byte) []byte {
	for {
		i := bytes.IndexByte(raw, 0)
		if i < 0 {
			return append(b, raw...)
		}
		b = append(b, raw[:i+1]...)
		b = append(b, 0xFF)
		raw = raw[i+1:]
	}
}

// keyValue returns attribute name of it as a key attribute of type typ: the
// value, or an error worded as DynamoDB words it for where (a table's key
// or an index's). A missing attribute returns nil, nil.
func keyValue(it item, k keyAttr) (*types.Item, error) {
	v, ok := it[k.name]
	if !ok {
		return nil, nil
	}
	t, err := typeOf(v)
	if err != nil {
		return nil, err
	}
	if t != k.typ {
		return v, fmt.Errorf("type mismatch: expected %s actual %s", k.typ, t)
	}
	switch t {
	case "S":
		if *v.S == "" {
			return v, errEmptyKey
		}
	case "B":
		if len(v.B) == 0 {
			return v, errEmptyKey
		}
	case "N":
		if _, err := parseNumber(*v.N); err != nil {
			return v, &apiError{status: 400, code: codeValidation, msg: err.Error()}
		}
	}
	return v, nil
}

var errEmptyKey = fmt.Errorf("empty key value")

// cloneItem copies an item deeply enough that the interpreter's in-place
// changes to the copy never reach the original.
func cloneItem(it item) item {
	out := make(item, len(it))
	for k, v := range it {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v *types.Item) *types.Item {
	if v == nil {
		return nil
	}
	c := *v
	if v.L != nil {
		c.L = make([]*types.Item, len(v.L))
		for i, e := range v.L {
			c.L[i] = cloneValue(e)
		}
	}
	if v.M != nil {
		c.M = cloneItem(v.M)
	}
	c.SS = slices.Clone(v.SS)
	c.NS = slices.Clone(v.NS)
	c.BS = slices.Clone(v.BS)
	return &c
}
