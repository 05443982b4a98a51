package local

import (
	"context"
	"errors"
	"testing"
)

func TestAFunctionZipAndCodeParametersGoApart(t *testing.T) {
	for _, param := range []string{"CodeS3Bucket", "CodeS3Key"} {
		p, err := Start(context.Background(), Options{Addr: "127.0.0.1:0", FunctionZip: []byte("PK"), Params: map[string]string{param: "elsewhere"}})
		if p != nil {
			p.Close()
		}
		if !errors.Is(err, ErrCodeParams) {
			t.Errorf("Start with a zip and %s: %v, want ErrCodeParams", param, err)
		}
	}
}
