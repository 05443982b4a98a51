package engine_test

import (
	"testing"

	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
)

// FuzzRequests feeds arbitrary bodies to every operation of an engine that
// holds a table with a GSI, an LSI and a few items: whatever the body, the
// engine answers (a result or an AWS error) and never panics. Do recovers
// panics into InternalServerError, so that code is the failure here.
//
//	go test ./cloud/dynamodb/engine -run '^$' -fuzz FuzzRequests -fuzztime 20s -fuzzminimizetime 5s
func FuzzRequests(f *testing.F) {
	seeds := []string{
		string(createOrders),
		`{"TableName":"Orders","Item":{"orderId":{"S":"O1"},"userId":{"S":"U"},"timestamp":{"S":"t"},"n":{"N":"1e3"},"l":{"L":[{"M":{"a":{"SS":["x"]}}}]}}}`,
		`{"TableName":"Orders","Item":{"orderId":{"S":"O1"}},"ConditionExpression":"attribute_not_exists(#id) OR #v < :v","ExpressionAttributeNames":{"#id":"orderId","#v":"v"},"ExpressionAttributeValues":{":v":{"N":"3"}},"ReturnValuesOnConditionCheckFailure":"ALL_OLD"}`,
		`{"TableName":"Orders","Key":{"orderId":{"S":"O1"}},"UpdateExpression":"SET a = :a ADD n :n REMOVE b DELETE s :s","ExpressionAttributeValues":{":a":{"S":"x"},":n":{"N":"1"},":s":{"SS":["x"]}},"ReturnValues":"ALL_NEW"}`,
		`{"TableName":"Events","KeyConditionExpression":"pk = :p AND begins_with(sk, :b)","ExpressionAttributeValues":{":p":{"S":"P"},":b":{"S":"a"}},"Limit":2,"ScanIndexForward":false}`,
		`{"TableName":"Events","IndexName":"ByRank","KeyConditionExpression":"(pk = :p) AND (#r BETWEEN :a AND :b)","ExpressionAttributeNames":{"#r":"rank"},"ExpressionAttributeValues":{":p":{"S":"P"},":a":{"N":"-1"},":b":{"N":"1e2"}},"ExclusiveStartKey":{"pk":{"S":"P"},"sk":{"N":"1"},"rank":{"N":"2"}}}`,
		`{"TableName":"Events","Segment":1,"TotalSegments":3,"FilterExpression":"size(note) > :z","ExpressionAttributeValues":{":z":{"N":"0"}},"Select":"COUNT"}`,
		`{"RequestItems":{"Orders":[{"PutRequest":{"Item":{"orderId":{"S":"B"}}}},{"DeleteRequest":{"Key":{"orderId":{"S":"O1"}}}}]}}`,
		`{"RequestItems":{"Orders":{"Keys":[{"orderId":{"S":"B"}}],"ProjectionExpression":"orderId"}}}`,
		`{"TransactItems":[{"Put":{"TableName":"Orders","Item":{"orderId":{"S":"T"}}}},{"ConditionCheck":{"TableName":"Orders","Key":{"orderId":{"S":"B"}},"ConditionExpression":"attribute_exists(orderId)"}}]}`,
		`{"TransactItems":[{"Get":{"TableName":"Orders","Key":{"orderId":{"S":"B"}}}}]}`,
		`{"TableName":"Orders","GlobalSecondaryIndexUpdates":[{"Delete":{"IndexName":"UserOrders"}}]}`,
		`{"TableName":"Orders","Key":{"orderId":{"S":"O1"}},"UpdateExpression":"SET m = :m ADD #m.#k[0] :n DELETE l[0].a :s REMOVE b","ExpressionAttributeNames":{"#m":"mm","#k":"k"},"ExpressionAttributeValues":{":m":{"M":{}},":n":{"N":"1e-3"},":s":{"SS":["x"]}},"ReturnValues":"UPDATED_NEW"}`,
		`{"TableName":"Events","Item":{"pk":{"S":"P"},"sk":{"N":"2"}},"ReturnItemCollectionMetrics":"SIZE"}`,
		`{"ClientRequestToken":"tok","ReturnItemCollectionMetrics":"SIZE","TransactItems":[{"Update":{"TableName":"Events","Key":{"pk":{"S":"P"},"sk":{"N":"1"}},"UpdateExpression":"ADD v.w :n","ExpressionAttributeValues":{":n":{"N":"1"}}}}]}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	ops := engine.Operations()
	f.Fuzz(func(t *testing.T, op uint8, body string) {
		e := engine.New()
		for _, setup := range []struct{ op, body string }{
			{"CreateTable", string(createOrders)},
			{"CreateTable", `{"TableName":"Events","BillingMode":"PAY_PER_REQUEST","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"N"},{"AttributeName":"rank","AttributeType":"N"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}],"LocalSecondaryIndexes":[{"IndexName":"ByRank","KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"rank","KeyType":"RANGE"}],"Projection":{"ProjectionType":"KEYS_ONLY"}}]}`},
			{"PutItem", `{"TableName":"Orders","Item":{"orderId":{"S":"O1"},"userId":{"S":"U"},"timestamp":{"S":"t"},"v":{"N":"1"},"s":{"SS":["x","y"]}}}`},
			{"PutItem", `{"TableName":"Events","Item":{"pk":{"S":"P"},"sk":{"N":"1"},"rank":{"N":"2"},"note":{"S":"hi"}}}`},
			{"PutItem", `{"TableName":"Events","Item":{"pk":{"S":"P"},"sk":{"N":"-5.5"},"rank":{"N":"0"}}}`},
		} {
			if _, err := e.Do(setup.op, []byte(setup.body)); err != nil {
				t.Fatalf("setup %s: %v", setup.op, err)
			}
		}
		name := ops[int(op)%len(ops)]
		if _, err := e.Do(name, []byte(body)); engine.Code(err) == "InternalServerError" {
			t.Fatalf("%s %q: %v", name, body, err)
		}
	})
}
