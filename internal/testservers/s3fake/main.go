// Command s3fake is the S3-compatible server the object-store tests start:
// gofakes3 in memory on a loopback address, as a process of its own (like
// Azurite and fake-gcs-server), so that a test talks to it only over HTTP.
//
// It prints "listening on http://HOST:PORT" on stdout once it accepts
// connections, creates the buckets named by -bucket, and serves until
// killed. Every object is publicly readable by path
// (http://HOST:PORT/BUCKET/KEY): gofakes3 checks no signature.
//
// gofakes3 v1.2.0 keeps only Content-Type, Content-Disposition,
// Content-Encoding and X-Amz-* of an upload; S3 also keeps Cache-Control
// and returns it on GET and HEAD. s3fake records the Cache-Control of each
// PutObject (and CreateMultipartUpload) and sends it back the same way, so
// that the tests see what a CDN in front of S3 would see.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	var buckets []string
	flag.Func("bucket", "a bucket to create at start (repeatable)", func(s string) error {
		buckets = append(buckets, s)
		return nil
	})
	flag.Parse()
	if err := run(*addr, buckets); err != nil {
		log.Fatalf("s3fake: %v", err)
	}
}

func run(addr string, buckets []string) error {
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	faker := gofakes3.New(backend, gofakes3.WithAutoBucket(false))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: withCacheControl(faker.Server()), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(os.Stdout, "listening on http://%s\n", ln.Addr())
	return srv.Serve(ln)
}

// withCacheControl records the Cache-Control of each upload by path and
// returns it on GET and HEAD of that path.
func withCacheControl(h http.Handler) http.Handler {
	var mu sync.Mutex
	cc := map[string]string{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Path
		q := r.URL.Query()
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			mu.Lock()
			v, ok := cc[key]
			mu.Unlock()
			if ok {
				w.Header().Set("Cache-Control", v)
			}
			h.ServeHTTP(w, r)
		case http.MethodPut, http.MethodPost:
			upload := (r.Method == http.MethodPut && !q.Has("partNumber") && r.Header.Get("X-Amz-Copy-Source") == "") ||
				(r.Method == http.MethodPost && q.Has("uploads"))
			rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
			h.ServeHTTP(rec, r)
			if upload && rec.code/100 == 2 && strings.Count(strings.Trim(key, "/"), "/") >= 1 {
				mu.Lock()
				if v := r.Header.Get("Cache-Control"); v != "" {
					cc[key] = v
				} else {
					delete(cc, key)
				}
				mu.Unlock()
			}
		default:
			h.ServeHTTP(w, r)
		}
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}
