package sns

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
)

// A cloud in memory used to make its RSA key in New, most of the time a
// start took; it is made on first use now, and is the key the certificate
// at the service's path verifies.
func TestAServiceInMemoryMakesItsSigningKeyOnFirstUse(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lazy, ok := s.signer.(*lazySigner)
	if !ok {
		t.Fatalf("the signer is a %T, want one that makes its key on first use", s.signer)
	}
	if lazy.signer != nil {
		t.Fatal("New made the signing key; want it made on first use")
	}
	paths := s.Paths()
	if len(paths) != 1 || !regexp.MustCompile(`^/SimpleNotificationService-[0-9a-f]{32}\.pem$`).MatchString(paths[0]) {
		t.Fatalf("Paths() = %v, want AWS's shape of a certificate path", paths)
	}
	if lazy.signer != nil {
		t.Fatal("Paths made the signing key; want it made on first use")
	}

	sig, err := s.signer.Sign(2, []byte("Message\nhello\n"))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.ServePath(rec, httptest.NewRequest(http.MethodGet, paths[0], nil))
	block, _ := pem.Decode(rec.Body.Bytes())
	if rec.Code != http.StatusOK || block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("GET %s = %d %q, want 200 and a PEM certificate", paths[0], rec.Code, rec.Body.String())
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignature(x509.SHA256WithRSA, []byte("Message\nhello\n"), sig); err != nil {
		t.Errorf("the served certificate does not verify the signature: %v", err)
	}
	again := httptest.NewRecorder()
	s.ServePath(again, httptest.NewRequest(http.MethodGet, paths[0], nil))
	if again.Body.String() != rec.Body.String() {
		t.Error("a second GET served another certificate")
	}
}
