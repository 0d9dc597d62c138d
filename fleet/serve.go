package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ServeOptions configure ListenAndServe.
type ServeOptions struct {
	Addr            string            // default 127.0.0.1:8090; port 0 picks one
	Ready           func(addr string) // called once listening, with the address
	ShutdownTimeout time.Duration     // default 10s
	Collector       Options
}

// ListenAndServe runs a collector on opts.Addr until ctx is done, then shuts
// down gracefully: no new connections, requests in flight answered, queued
// reports committed. It does not close opts.Collector.Store.
func ListenAndServe(ctx context.Context, opts ServeOptions) error {
	c, err := New(opts.Collector)
	if err != nil {
		return err
	}
	defer c.Close()
	log := c.log
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:8090"
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("fleet: listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           c,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	if opts.Ready != nil {
		opts.Ready(ln.Addr().String())
	}
	select {
	case err := <-done:
		return fmt.Errorf("fleet: serve: %w", err)
	case <-ctx.Done():
	}
	timeout := opts.ShutdownTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("fleet: shutdown: %w", err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("fleet: serve: %w", err)
	}
	return nil
}
