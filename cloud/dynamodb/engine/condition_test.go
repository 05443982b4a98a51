package engine_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
)

// conditionValues are the :values the condition tests draw on; each
// request sends only those its expression names.
var conditionValues = av{
	":s": s("x"), ":h": s("he"), ":n": n("3"), ":five": n("5"), ":big": n("10"), ":zero": n("0"),
	":b": b([]byte("a")), ":l": l(s("x")), ":m": m(av{"k": s("v")}), ":ss": ss("x"), ":bool": boolean(true),
	":tN": s("N"), ":tS": s("S"), ":bad": s("STRING"),
}

// valuesFor returns the conditionValues that expr names.
func valuesFor(expr string) av {
	out := av{}
	for k, v := range conditionValues {
		i := strings.Index(expr, k)
		for i >= 0 {
			end := i + len(k)
			if end == len(expr) || !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", rune(expr[end])) {
				out[k] = v
				break
			}
			j := strings.Index(expr[end:], k)
			if j < 0 {
				break
			}
			i = end + j
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// conditionItem holds one attribute of each type; "absent" is missing.
var conditionItem = av{
	"pk": s("1"), "a": n("5"), "str": s("hello"), "ss": ss("x", "y"), "ns": ns("1", "2"),
	"lst": l(s("x"), n("1")), "mp": m(av{"k": s("v")}), "bo": boolean(true), "nul": &types.AttributeValueMemberNULL{Value: true}, "bin": b([]byte("ab")),
}

// TestConditionTypeMismatchIsFalse: the comparison operators and functions
// of condition and filter expressions evaluate to false (<> to true) when
// their operands' types cannot meet or an attribute is missing, as
// DynamoDB's "Comparison operator and function reference" has them, so
// that NOT of such a comparison is true and a filter meeting such an item
// drops it instead of failing the request. An operand written in the
// request whose type the operator or function never takes is a
// ValidationException, whatever the item.
func TestConditionTypeMismatchIsFalse(t *testing.T) {
	const bad = "ValidationException: Invalid FilterExpression: Incorrect operand type for operator or function; operator or function: "
	cases := []struct{ expr, want string }{
		// Comparisons across types are false; <> is true.
		{"a < :s", "false"}, {"a <= :s", "false"}, {"a > :s", "false"}, {"a >= :s", "false"},
		{"a = :s", "false"}, {"a <> :s", "true"}, {"NOT (a < :s)", "true"},
		{"str < :b", "false"}, {"bo < :s", "false"}, {"bo = :bool", "true"}, {"bo = :s", "false"},
		{"lst < :n", "false"}, {"mp < mp", "false"}, {"ss = :ss", "false"}, {"mp = :m", "true"},
		{"a < :big", "true"}, {"a > :n", "true"}, {"str < :s", "true"},
		// A missing attribute compares false (<> true).
		{"absent < :n", "false"}, {"absent = :n", "false"}, {"absent <> :n", "true"}, {"NOT (absent >= :n)", "true"},
		{"absent BETWEEN :n AND :big", "false"}, {"absent IN (:n, :s)", "false"},
		// BETWEEN and IN across types.
		{"a BETWEEN :s AND :s", "false"}, {"NOT (a BETWEEN :s AND :s)", "true"}, {"a BETWEEN :n AND :big", "true"},
		{"a IN (:s, :five)", "true"}, {"a IN (:s, absent)", "false"}, {"str IN (:s)", "false"},
		// Functions on a missing attribute or one of a type they do not take.
		{"contains(absent, :s)", "false"}, {"NOT contains(absent, :s)", "true"},
		{"contains(a, :s)", "false"}, {"contains(str, :n)", "false"}, {"contains(ss, :n)", "false"}, {"contains(ns, :s)", "false"},
		{"contains(mp, :s)", "false"}, {"contains(bo, :s)", "false"},
		{"contains(ss, :s)", "true"}, {"contains(ns, :five)", "false"}, {"contains(str, :h)", "true"}, {"contains(lst, :s)", "true"},
		{"begins_with(absent, :s)", "false"}, {"NOT begins_with(absent, :s)", "true"},
		{"begins_with(a, :s)", "false"}, {"begins_with(ss, :s)", "false"}, {"begins_with(str, :b)", "false"},
		{"begins_with(str, :h)", "true"}, {"begins_with(bin, :b)", "true"},
		{"attribute_type(absent, :tN)", "false"}, {"NOT attribute_type(absent, :tN)", "true"},
		{"attribute_type(a, :tN)", "true"}, {"attribute_type(str, :tN)", "false"}, {"attribute_type(str, :tS)", "true"},
		{"size(absent) > :zero", "false"}, {"size(str) = :five", "true"}, {"size(str) > :s", "false"}, {"size(:s) = :five", "false"},
		// One side's error-free false does not hide the other's truth.
		{"a < :s OR str = :s", "false"}, {"a < :s OR begins_with(str, :h)", "true"},
		// Operands written in the request that can never be valid.
		{"size(:n) > :zero", bad + "size, operand type: N"},
		{"size(:bool) > :zero", bad + "size, operand type: BOOL"},
		{"lst < :l", bad + "<, operand type: L"},
		{":m >= mp", bad + ">=, operand type: M"},
		{"ss <= :ss", bad + "<=, operand type: SS"},
		{"a BETWEEN :l AND :l", bad + "BETWEEN, operand type: L"},
		{"begins_with(str, :n)", bad + "begins_with, operand type: N"},
		{"attribute_type(a, :n)", bad + "attribute_type, operand type: N"},
		{"attribute_type(a, :bad)", "ValidationException: Invalid FilterExpression: Invalid attribute type name found; type: STRING, valid types: { B; BOOL; BS; L; M; N; NS; NULL; S; SS }"},
		{"a BETWEEN :n AND :s", "ValidationException: Invalid FilterExpression: The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {N:3}, upper bound operand: AttributeValue: {S:x}"},
		{"a BETWEEN :big AND :n", "ValidationException: Invalid FilterExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:10}, upper bound operand: AttributeValue: {N:3}"},
		// size() of an attribute that has no size.
		{"size(a) > :zero", bad + "size, operand type: N"},
		{"size(bo) > :zero", bad + "size, operand type: BOOL"},
		{"size(nul) > :zero", bad + "size, operand type: NULL"},
	}
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		simpleTable(t, c, "conds")
		simpleTable(t, c, "empty")
		if err := put(c, "conds", conditionItem); err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			out, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("conds"), FilterExpression: aws.String(tc.expr), ExpressionAttributeValues: valuesFor(tc.expr)})
			got := codeMessage(err)
			if err == nil {
				got = strconv.FormatBool(out.Count == 1)
			}
			if got != tc.want {
				t.Errorf("%s: got %s, want %s", tc.expr, got, tc.want)
			}
			// The same expression as a write's condition: false is a
			// failed condition, not a ValidationException; an invalid
			// operand is refused whatever the item.
			_, err = c.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: aws.String("conds"), Key: av{"pk": s("1")},
				UpdateExpression: aws.String("SET touched = :one"), ConditionExpression: aws.String(tc.expr),
				ExpressionAttributeValues: mergeAV(valuesFor(tc.expr), av{":one": n("1")})})
			want := map[string]string{"true": "ok", "false": "ConditionalCheckFailedException: The conditional request failed"}[tc.want]
			if want == "" {
				want = strings.Replace(tc.want, "FilterExpression", "ConditionExpression", 1)
			}
			if got := codeMessage(err); got != want {
				t.Errorf("condition %s: got %s, want %s", tc.expr, got, want)
			}
			if strings.HasPrefix(tc.want, "ValidationException") && !strings.Contains(tc.expr, "(a)") && !strings.Contains(tc.expr, "(bo)") && !strings.Contains(tc.expr, "(nul)") {
				// Refused before any item is read: a Scan of an empty table too.
				_, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("empty"), FilterExpression: aws.String(tc.expr), ExpressionAttributeValues: valuesFor(tc.expr)})
				if got := codeMessage(err); got != tc.want {
					t.Errorf("%s on an empty table: got %s, want %s", tc.expr, got, tc.want)
				}
			}
		}
	})
}

// TestFilterMeetingMixedTypes: a filtered Scan over items whose attribute
// has different types (or is missing) returns the items the filter
// matches, and does not fail on the others.
func TestFilterMeetingMixedTypes(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		simpleTable(t, c, "mixed")
		values := []types.AttributeValue{n("1"), s("1"), n("7"), s("b"), boolean(false), l(n("1")), ss("b"), nil}
		for i, v := range values {
			it := av{"pk": s(strconv.Itoa(i))}
			if v != nil {
				it["v"] = v
			}
			if err := put(c, "mixed", it); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			expr string
			vals av
			want string
		}{
			{"v < :n", av{":n": n("5")}, "0"},
			{"v >= :s", av{":s": s("a")}, "3"},
			{"v <> :n", av{":n": n("1")}, "1 2 3 4 5 6 7"},
			{"begins_with(v, :s)", av{":s": s("b")}, "3"},
			{"contains(v, :s)", av{":s": s("b")}, "3 6"},
			{"contains(v, :n)", av{":n": n("1")}, "5"},
			{"attribute_type(v, :t)", av{":t": s("N")}, "0 2"},
			{"NOT (v BETWEEN :lo AND :hi)", av{":lo": n("0"), ":hi": n("5")}, "1 2 3 4 5 6 7"},
		} {
			out, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("mixed"), FilterExpression: aws.String(tc.expr), ExpressionAttributeValues: tc.vals})
			if err != nil {
				t.Errorf("%s: %s", tc.expr, codeMessage(err))
				continue
			}
			var pks []string
			for _, it := range out.Items {
				pks = append(pks, it["pk"].(*types.AttributeValueMemberS).Value)
			}
			slices.Sort(pks)
			if got := strings.Join(pks, " "); got != tc.want {
				t.Errorf("%s: got items %q, want %q", tc.expr, got, tc.want)
			}
		}
	})
}

func mergeAV(a, b av) av {
	out := av{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// TestLegacyOperandTypes: a legacy ComparisonOperator given a value of a
// type it does not take is refused with DynamoDB's legacy wording, before
// any item is read, not with the message of the expression it stands for;
// so is a BETWEEN whose lower bound is above its upper bound.
func TestLegacyOperandTypes(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		simpleTable(t, c, "legacy")
		const invalid = "ValidationException: One or more parameter values were invalid: ComparisonOperator "
		cases := []struct {
			op   types.ComparisonOperator
			vals []types.AttributeValue
			want string
		}{
			{types.ComparisonOperatorLt, []types.AttributeValue{ss("a")}, invalid + "LT is not valid for SS AttributeValue type"},
			{types.ComparisonOperatorGe, []types.AttributeValue{boolean(true)}, invalid + "GE is not valid for BOOL AttributeValue type"},
			{types.ComparisonOperatorIn, []types.AttributeValue{s("a"), l()}, invalid + "IN is not valid for L AttributeValue type"},
			{types.ComparisonOperatorContains, []types.AttributeValue{m(av{})}, invalid + "CONTAINS is not valid for M AttributeValue type"},
			{types.ComparisonOperatorNotContains, []types.AttributeValue{ns("1")}, invalid + "NOT_CONTAINS is not valid for NS AttributeValue type"},
			{types.ComparisonOperatorBeginsWith, []types.AttributeValue{n("1")}, invalid + "BEGINS_WITH is not valid for N AttributeValue type"},
			{types.ComparisonOperatorBetween, []types.AttributeValue{l(), l()}, invalid + "BETWEEN is not valid for L AttributeValue type"},
			{types.ComparisonOperatorBetween, []types.AttributeValue{n("10"), n("9")}, "ValidationException: The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"},
			{types.ComparisonOperatorBetween, []types.AttributeValue{n("9"), n("10")}, "ok"},
			{types.ComparisonOperatorEq, []types.AttributeValue{m(av{})}, "ok"},
			{types.ComparisonOperatorContains, []types.AttributeValue{n("1")}, "ok"},
		}
		for _, tc := range cases {
			_, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("legacy"), ScanFilter: map[string]types.Condition{"a": {ComparisonOperator: tc.op, AttributeValueList: tc.vals}}})
			if got := codeMessage(err); got != tc.want {
				t.Errorf("%s %v: got %s, want %s", tc.op, tc.vals, got, tc.want)
			}
		}
	})
}
