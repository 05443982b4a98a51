package sns

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/cloud/clock"
)

// discard is a ResponseWriter that keeps the status and nothing else, so
// that an allocation count is the service's own.
type discard struct {
	h      http.Header
	status int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(status int)      { d.status = status }

type acceptAll struct{}

func (acceptAll) Deliver(context.Context, Delivery) error { return nil }

// The costs of Publish cut for issue 18 item 2 (docs/benchmarks.md): these
// budgets fail if one comes back.
func TestPublishStaysWithinItsAllocationBudgets(t *testing.T) {
	svc, err := New(Options{Clock: clock.Real(), Queues: acceptAll{}})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	topic, err := svc.CreateTopic(ctx, "OrderTopic", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Subscribe(ctx, topic, "sqs", "arn:aws:sqs:us-east-1:000000000000:OrderQueue", map[string]string{"RawMessageDelivery": "true"}); err != nil {
		t.Fatal(err)
	}
	// The form as the edge leaves it: parsed once, to route the request.
	form := url.Values{"Action": {"Publish"}, "Version": {"2010-03-31"}, "TopicArn": {topic}, "Message": {`{"orderId":"o-1","quantity":1}`}}
	r, err := http.NewRequest(http.MethodPost, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Form, r.PostForm = form, form
	w := &discard{h: http.Header{}}
	for _, tc := range []struct {
		name   string
		budget float64
		run    func()
	}{
		// The request id, the response's headers and buffer, the
		// message and its timestamp, the hand-off to delivery; 17 with
		// the sorted copy of no attribute names and the ARN's split.
		{"serving a Publish the edge parsed", 13, func() {
			clear(w.h)
			svc.ServeHTTP(w, r)
			if w.status != http.StatusOK {
				t.Fatalf("status %d", w.status)
			}
		}},
		{"validating no message attributes", 0, func() { validateAttributes(nil) }},
		{"reading a topic ARN", 0, func() { parseARN(topic) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(50, tc.run); got > tc.budget {
				t.Errorf("%v allocations, want at most %v", got, tc.budget)
			}
		})
	}
}

// A Publish served without the edge reads its form without a second copy
// of the parameters: r.Form is r.PostForm itself.
func TestAPublishFormIsReadWithoutACopy(t *testing.T) {
	svc, err := New(Options{Clock: clock.Real(), Queues: acceptAll{}})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	topic, err := svc.CreateTopic(context.Background(), "OrderTopic", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := url.Values{"Action": {"Publish"}, "TopicArn": {topic}, "Message": {"m"}}.Encode()
	r, err := http.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := &discard{h: http.Header{}}
	svc.ServeHTTP(w, r)
	if w.status != http.StatusOK {
		t.Fatalf("status %d", w.status)
	}
	if reflect.ValueOf(r.Form).UnsafePointer() != reflect.ValueOf(r.PostForm).UnsafePointer() {
		t.Errorf("r.Form is a copy of r.PostForm (%v), want the same map", r.Form)
	}
}

// parseARN cuts an ARN as strings.SplitN(s, ":", 6) did.
func TestParseARNCutsAsSplitNDid(t *testing.T) {
	for _, s := range []string{
		"arn:aws:sns:us-east-1:000000000000:OrderTopic",
		"arn:aws:sns:us-east-1:000000000000:OrderTopic:0b8d7f5e-7b5c-4a8e-9c3e-2f6a1d4b9e01",
		"arn:aws:sns:::t", "arn:aws:sns:us-east-1:1:", "arn::sns:r:a:t", "arn:aws::r:a:t", "ARN:aws:sns:r:a:t",
		"arn:aws:sns:r:a", "", ":", ":::::", "arn:aws:sns:r:a:t::x", "not an arn",
	} {
		want, wantOK := arn{}, false
		if p := strings.SplitN(s, ":", 6); len(p) == 6 && p[0] == "arn" && p[1] != "" && p[2] != "" && p[5] != "" {
			want, wantOK = arn{p[1], p[2], p[3], p[4], p[5]}, true
		}
		if got, ok := parseARN(s); got != want || ok != wantOK {
			t.Errorf("parseARN(%q) = %+v, %v; want %+v, %v", s, got, ok, want, wantOK)
		}
	}
}
