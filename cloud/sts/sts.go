// Package sts is the embedded cloud's AWS Security Token Service, the one
// call deploy tools make first: GetCallerIdentity, over the Query protocol
// (form-encoded Action=…, XML answers), as aws-sdk-go-v2 and the AWS CLI
// speak it.
//
// The cloud has one account and no IAM: every key it accepts may do
// everything, which on AWS only the account's root user may. So the caller
// is the account's root, whatever the key, and GetCallerIdentity answers
// what AWS answers for root credentials: Arn arn:aws:iam::ACCOUNT:root and
// the account id as UserId. (LocalStack answers the same Arn for its
// default key; moto answers a made-up user, arn:aws:sts::ACCOUNT:user/moto.)
//
// STS's other actions (AssumeRole, GetSessionToken, …) would hand out
// credentials the cloud has no use for: they are refused with
// InvalidAction, in STS's error document, saying so.
package sts

import (
	"encoding/xml"
	"net/http"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/awsproto"
)

// XMLNamespace is the namespace of STS's Query-protocol documents.
const XMLNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// actions are STS's Query actions, as its API reference lists them: the
// edge routes them here (they are STS's alone), and all but
// GetCallerIdentity are refused.
var actions = []string{
	"AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity", "AssumeRoot",
	"DecodeAuthorizationMessage", "GetAccessKeyInfo", "GetCallerIdentity",
	"GetDelegatedAccessToken", "GetFederationToken", "GetSessionToken", "GetWebIdentityToken",
}

// Options configure a Service.
type Options struct {
	// Env gives the account the caller belongs to; its zero fields take
	// awsenv's defaults.
	Env awsenv.Env
}

// Service answers STS's Query protocol.
type Service struct {
	env awsenv.Env
}

// New returns the service.
func New(o Options) (*Service, error) {
	return &Service{env: o.Env.WithDefaults()}, nil
}

// Name is the SigV4 signing name.
func (s *Service) Name() string { return "sts" }

// TargetPrefix is empty: STS speaks the Query protocol.
func (s *Service) TargetPrefix() string { return "" }

// Actions lists STS's actions, the refused ones among them, so that the
// edge routes them here to be refused in STS's words.
func (s *Service) Actions() []string { return actions }

type callerIdentity struct {
	XMLName xml.Name `xml:"GetCallerIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Arn     string
		UserId  string
		Account string
	} `xml:"GetCallerIdentityResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

// ServeHTTP answers a Query request (POST, or GET for GetCallerIdentity).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := awsproto.NewRequestID()
	w.Header().Set("X-Amzn-RequestId", reqID)
	fail := func(err *awsproto.Error) { awsproto.WriteQueryError(w, err, XMLNamespace, reqID) }
	// The edge has parsed the form already, within its bound on bodies.
	if err := r.ParseForm(); err != nil {
		fail(awsproto.Errorf(http.StatusBadRequest, "MalformedQueryString", "the request's parameters cannot be read: %v", err))
		return
	}
	switch action := r.Form.Get("Action"); action {
	case "GetCallerIdentity":
		var out callerIdentity
		out.Xmlns, out.RequestID = XMLNamespace, reqID
		out.Result.Arn = "arn:aws:iam::" + s.env.AccountID + ":root"
		out.Result.UserId = s.env.AccountID
		out.Result.Account = s.env.AccountID
		awsproto.WriteXML(w, out)
	case "":
		fail(awsproto.Errorf(http.StatusBadRequest, "MissingAction", "Missing Action"))
	default:
		fail(awsproto.Errorf(http.StatusBadRequest, "InvalidAction",
			"The embedded cloud's STS answers only GetCallerIdentity, not %s: every key it accepts already acts as the account's root, so there are no other credentials to get.", action))
	}
}
