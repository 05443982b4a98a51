package sns

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"time"
)

// Signer signs notification envelopes and hands out the certificate that
// verifies them. Clients fetch the certificate from SigningCertURL and check
// Signature over the envelope's string to sign (see StringToSign).
type Signer interface {
	// Sign returns the signature of stringToSign for SignatureVersion
	// version: 1 is SHA1withRSA, 2 is SHA256withRSA (RSASSA-PKCS1-v1_5).
	Sign(version int, stringToSign []byte) ([]byte, error)
	// CertificatePEM returns the PEM-encoded X.509 certificate whose public
	// key verifies Sign's signatures.
	CertificatePEM() []byte
}

// RSASigner signs with an RSA-2048 key under a self-signed certificate, as
// AWS's SNS signing certificates are RSA-2048.
type RSASigner struct {
	key  *rsa.PrivateKey
	cert []byte
}

var _ Signer = (*RSASigner)(nil)

// NewRSASigner generates a key from random (crypto/rand when nil) and a
// self-signed certificate valid from an hour before now for ten years.
func NewRSASigner(random io.Reader, now time.Time) (*RSASigner, error) {
	if random == nil {
		random = rand.Reader
	}
	key, err := rsa.GenerateKey(random, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate RSA key: %w", err)
	}
	serial, err := rand.Int(random, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:       serial,
		Subject:            pkix.Name{CommonName: "sns.amazonaws.com", Organization: []string{"orderflow embedded cloud"}},
		NotBefore:          now.Add(-time.Hour),
		NotAfter:           now.AddDate(10, 0, 0),
		KeyUsage:           x509.KeyUsageDigitalSignature,
		SignatureAlgorithm: x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(random, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("self-sign certificate: %w", err)
	}
	return &RSASigner{key: key, cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// LoadRSASigner returns the signer of an RSA key (PEM, PKCS #1 or PKCS #8)
// and the certificate (PEM) of its public key, e.g. as KeyPEM and
// CertificatePEM wrote them, so that a signer can outlive a process.
func LoadRSASigner(keyPEM, certPEM []byte) (*RSASigner, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("load signer: the key is not PEM")
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("load signer: %w", err)
		}
		key = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("load signer: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("load signer: a %T is not an RSA key", k)
		}
		key = rk
	default:
		return nil, fmt.Errorf("load signer: a PEM %q block is not a private key", block.Type)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("load signer: the certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load signer: %w", err)
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("load signer: the certificate is not for the key")
	}
	return &RSASigner{key: key, cert: certPEM}, nil
}

// KeyPEM returns the private key, PEM-encoded PKCS #8, for LoadRSASigner.
// Keep it as private as the key is.
func (s *RSASigner) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		return nil, fmt.Errorf("marshal RSA key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Sign implements Signer.
func (s *RSASigner) Sign(version int, stringToSign []byte) ([]byte, error) {
	switch version {
	case 1:
		h := sha1.Sum(stringToSign)
		return rsa.SignPKCS1v15(nil, s.key, crypto.SHA1, h[:])
	case 2:
		h := sha256.Sum256(stringToSign)
		return rsa.SignPKCS1v15(nil, s.key, crypto.SHA256, h[:])
	}
	return nil, fmt.Errorf("sign: unknown SignatureVersion %d", version)
}

// CertificatePEM implements Signer.
func (s *RSASigner) CertificatePEM() []byte { return s.cert }

// lazySigner is an RSASigner made on first use: a cloud whose topics
// deliver raw never signs, and making an RSA-2048 key was most of the
// time a cloud took to start.
type lazySigner struct {
	now    func() time.Time
	once   sync.Once
	signer *RSASigner
	err    error
}

var _ Signer = (*lazySigner)(nil)

func (l *lazySigner) get() (*RSASigner, error) {
	l.once.Do(func() {
		l.signer, l.err = NewRSASigner(nil, l.now())
	})
	return l.signer, l.err
}

// Sign implements Signer, making the key first if it is not made yet.
func (l *lazySigner) Sign(version int, stringToSign []byte) ([]byte, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.Sign(version, stringToSign)
}

// CertificatePEM implements Signer, making the key first if it is not made
// yet; nil if it could not be made.
func (l *lazySigner) CertificatePEM() []byte {
	s, err := l.get()
	if err != nil {
		return nil
	}
	return s.CertificatePEM()
}

// randomCertificatePath is a certificate path of AWS's shape for a key not
// made yet (see lazySigner).
func randomCertificatePath() (string, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", err
	}
	return "/SimpleNotificationService-" + hex.EncodeToString(id[:]) + ".pem", nil
}

// certificatePath names the certificate as AWS does
// (/SimpleNotificationService-<hex>.pem), from a digest of its DER bytes.
func certificatePath(certPEM []byte) (string, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errors.New("not a PEM certificate")
	}
	sum := sha256.Sum256(block.Bytes)
	return "/SimpleNotificationService-" + hex.EncodeToString(sum[:16]) + ".pem", nil
}

// StringToSign builds the string a Notification's Signature covers, per
// AWS's "Verifying the signatures of Amazon SNS messages": the names and
// values of Message, MessageId, Subject (only when present), Timestamp,
// TopicArn and Type, each followed by a newline.
func StringToSign(message, messageID, subject, timestamp, topicARN, typ string) []byte {
	var b strings.Builder
	b.Grow(len(message) + len(subject) + len(topicARN) + 128)
	field := func(name, value string) {
		b.WriteString(name)
		b.WriteByte('\n')
		b.WriteString(value)
		b.WriteByte('\n')
	}
	field("Message", message)
	field("MessageId", messageID)
	if subject != "" {
		field("Subject", subject)
	}
	field("Timestamp", timestamp)
	field("TopicArn", topicARN)
	field("Type", typ)
	return []byte(b.String())
}
