package awsproto

import (
	"net/http"
	"net/url"
)

// ParseForm is r.ParseForm without its copy of the body's parameters:
// when the URL has no query, r.Form is r.PostForm itself rather than a
// copy of it (every value of a Query-protocol request would otherwise be
// copied once more). Limits, errors and results are ParseForm's.
func ParseForm(r *http.Request) error {
	if r.Form != nil || r.PostForm != nil || r.URL == nil || r.URL.RawQuery != "" {
		return r.ParseForm()
	}
	// A Form already set makes ParseForm parse the body alone.
	r.Form = url.Values{}
	err := r.ParseForm()
	if len(r.PostForm) > 0 {
		r.Form = r.PostForm
	}
	return err
}
