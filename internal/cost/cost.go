// Package cost turns the API calls a run of the pipeline made into what the
// same work costs on AWS, per million orders, under a documented price
// table (us-east-1 list prices, 2026):
//
//	SNS      $0.50 per million publish requests (each 64 KB chunk of a
//	         request's payload counts as one; a PublishBatch's chunks are
//	         counted over its total payload); deliveries to SQS are free
//	SQS      $0.40 per million requests (each 64 KB chunk counts as one),
//	         including the SendMessage SNS makes to deliver and every
//	         ReceiveMessage, empty or not
//	Lambda   $0.20 per million invocations, plus $0.0000133334 per GB-second
//	         on arm64
//	DynamoDB $0.625 per million write request units (on-demand; a write of
//	         an item up to 1 KB is one unit, a failed conditional write too)
//
// Free tiers are ignored. The seed's naive design — one Publish per order,
// batch size 1, a 128 MB function running ~100 ms — comes to about $2.73
// per million orders under these prices (NaiveDesign).
package cost

import "sort"

// Prices are dollars per unit.
type Prices struct {
	SNSPublishPerMillion    float64
	SQSRequestPerMillion    float64
	LambdaRequestPerMillion float64
	LambdaGBSecond          float64
	DynamoDBWritePerMillion float64
}

// ListPrices are the prices above.
var ListPrices = Prices{
	SNSPublishPerMillion:    0.50,
	SQSRequestPerMillion:    0.40,
	LambdaRequestPerMillion: 0.20,
	LambdaGBSecond:          0.0000133334,
	DynamoDBWritePerMillion: 0.625,
}

// Usage is what a run consumed.
type Usage struct {
	Orders         int
	SNSPublishes   int64   // billed publish requests (64 KB chunks)
	SQSRequests    int64   // billed SQS requests, SNS deliveries included
	Invocations    int64   // Lambda invocations
	GBSeconds      float64 // billed Lambda duration × memory
	DynamoDBWrites int64   // write request units
}

// Line is one item of a bill.
type Line struct {
	Item             string  `json:"item"`
	PerMillionOrders float64 `json:"perMillionOrders"`
}

// Bill is the cost per million orders, itemised.
type Bill struct {
	Lines []Line  `json:"lines"`
	Total float64 `json:"total"`
}

// PerMillion prices u per million orders.
func (p Prices) PerMillion(u Usage) Bill {
	if u.Orders == 0 {
		return Bill{}
	}
	scale := 1e6 / float64(u.Orders)
	lines := []Line{
		{"SNS publish", float64(u.SNSPublishes) * scale * p.SNSPublishPerMillion / 1e6},
		{"SQS requests", float64(u.SQSRequests) * scale * p.SQSRequestPerMillion / 1e6},
		{"Lambda invocations", float64(u.Invocations) * scale * p.LambdaRequestPerMillion / 1e6},
		{"Lambda duration", u.GBSeconds * scale * p.LambdaGBSecond},
		{"DynamoDB writes", float64(u.DynamoDBWrites) * scale * p.DynamoDBWritePerMillion / 1e6},
	}
	b := Bill{Lines: lines}
	for _, l := range lines {
		b.Total += l.PerMillionOrders
	}
	return b
}

// NaiveDesign is the seed's design for a million orders: one Publish each,
// SNS's delivery, one receive and one delete per message (batch size 1),
// one invocation of a 128 MB function for ~100 ms, one write.
var NaiveDesign = Usage{
	Orders:         1_000_000,
	SNSPublishes:   1_000_000,
	SQSRequests:    3_000_000,
	Invocations:    1_000_000,
	GBSeconds:      1_000_000 * 0.125 * 0.1,
	DynamoDBWrites: 1_000_000,
}

// FromCalls derives the billed SNS and SQS requests from an embedded
// cloud's call counts ("service:Action" → n). SNS deliveries to SQS are
// counted under "sqs:SendMessage (SNS delivery)". Payloads are taken to be
// under 64 KB a request, as order batches are.
func FromCalls(calls map[string]int64) (snsPublishes, sqsRequests int64) {
	keys := make([]string, 0, len(calls))
	for k := range calls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case k == "sns:Publish" || k == "sns:PublishBatch":
			snsPublishes += calls[k]
		case len(k) > 4 && k[:4] == "sqs:":
			sqsRequests += calls[k]
		}
	}
	return snsPublishes, sqsRequests
}
