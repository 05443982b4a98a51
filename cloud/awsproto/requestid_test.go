package awsproto_test

import (
	"testing"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

func TestARequestIDCostsOneAllocation(t *testing.T) {
	if got := testing.AllocsPerRun(100, func() { _ = awsproto.NewRequestID() }); got != 1 {
		t.Errorf("NewRequestID allocates %v times, want 1 (the string)", got)
	}
}
