package testservers

import (
	"io"
	"net/http"
	"testing"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/s3blob"
)

// TestStoresServeWhatWasWritten: each emulator takes an object through its
// SDK driver and serves it anonymously over HTTP with the Content-Type and
// Cache-Control it was written with; a missing object is a 404.
func TestStoresServeWhatWasWritten(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			s := Start(t, kind, "bsi-smoke")
			s.Setenv(t)
			b, err := blob.OpenBucket(t.Context(), s.URL)
			if err != nil {
				t.Fatalf("open %s: %v", s.URL, err)
			}
			defer b.Close()
			err = b.WriteAll(t.Context(), "dir/a.json", []byte(`{"a":1}`), &blob.WriterOptions{
				ContentType: "application/json", CacheControl: "public, max-age=31536000, immutable"})
			if err != nil {
				t.Fatalf("write: %v", err)
			}
			resp, err := http.Get(s.HTTPBase + "/dir/a.json")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != `{"a":1}` {
				t.Fatalf("GET %s/dir/a.json: %s %q", s.HTTPBase, resp.Status, body)
			}
			if ct, cc := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"); ct != "application/json" || cc != "public, max-age=31536000, immutable" {
				t.Errorf("served with Content-Type %q Cache-Control %q", ct, cc)
			}
			resp, err = http.Get(s.HTTPBase + "/dir/missing.json")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 404 {
				t.Errorf("GET a missing object: %s, want 404", resp.Status)
			}
		})
	}
}
