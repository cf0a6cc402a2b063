// Package requestid is a Traefik middleware plugin that stamps every request with a fresh random
// id in one header, overwriting whatever the client sent.
//
// It runs before the retry middleware (services/config/traefik/dynamic.yml), so every attempt of
// one client request carries the same id: the items service uses it as the implicit
// Idempotency-Key of a keyless POST, and a POST that the proxy replays after a replica died
// mid-request is never stored twice. The client cannot choose the id through the proxy.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
)

// Config is the plugin's dynamic configuration.
type Config struct {
	Header string `json:"header,omitempty"`
}

// CreateConfig returns the default configuration.
func CreateConfig() *Config {
	return &Config{Header: "X-Proxy-Request-Id"}
}

// RequestID is the middleware.
type RequestID struct {
	next   http.Handler
	header string
}

// New builds the middleware.
func New(_ context.Context, next http.Handler, config *Config, _ string) (http.Handler, error) {
	if config.Header == "" {
		return nil, fmt.Errorf("requestid: header must not be empty")
	}
	return &RequestID{next: next, header: http.CanonicalHeaderKey(config.Header)}, nil
}

func (r *RequestID) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		http.Error(rw, `{"error": "proxy could not make a request id"}`, http.StatusInternalServerError)
		return
	}
	req.Header.Set(r.header, hex.EncodeToString(raw[:]))
	r.next.ServeHTTP(rw, req)
}
