// Package bodylimit is a Traefik middleware plugin that refuses, with 413, a request whose
// declared Content-Length exceeds MaxBytes, before a byte of its body is read or forwarded.
//
// Why not Traefik's buffering middleware: it reads every request into memory before forwarding
// it, and answered a chunked body over its limit with a plain-text 500 (measured with Traefik
// 3.7.15). A chunked body (no Content-Length) goes on to the replica, which reads at most its
// limit + 1 bytes and answers 413 itself (items_service/app.py): nothing is buffered here.
package bodylimit

import (
	"context"
	"fmt"
	"net/http"
)

// Config is the plugin's dynamic configuration.
type Config struct {
	MaxBytes int64 `json:"maxBytes,omitempty"`
}

// CreateConfig returns the default configuration.
func CreateConfig() *Config {
	return &Config{MaxBytes: 16384}
}

// BodyLimit is the middleware.
type BodyLimit struct {
	next http.Handler
	max  int64
	body string
}

// New builds the middleware.
func New(_ context.Context, next http.Handler, config *Config, _ string) (http.Handler, error) {
	if config.MaxBytes <= 0 {
		return nil, fmt.Errorf("bodylimit: maxBytes must be positive")
	}
	// The items service's error shape: {"error", "detail"}.
	body := fmt.Sprintf(`{"error":"payload too large","detail":"the request body exceeds %d bytes"}`, config.MaxBytes)
	return &BodyLimit{next: next, max: config.MaxBytes, body: body}, nil
}

func (b *BodyLimit) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	if req.ContentLength > b.max {
		rw.Header().Set("Content-Type", "application/json")
		// The unread body is not drained: Go's server closes the connection after this reply.
		rw.Header().Set("Connection", "close")
		rw.WriteHeader(http.StatusRequestEntityTooLarge)
		_, _ = rw.Write([]byte(b.body + "\n"))
		return
	}
	b.next.ServeHTTP(rw, req)
}
