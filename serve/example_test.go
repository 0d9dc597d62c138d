package serve_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/bsiframework/bsi/serve"
)

func ExampleListenAndServe() {
	dir, _ := os.MkdirTemp("", "public")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "timestamp.json"), []byte(`{"signed":{}}`), 0o644)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ready := make(chan string)
	done := make(chan error)
	go func() {
		done <- serve.ListenAndServe(ctx, serve.Options{
			Dir:   dir,
			Addr:  "127.0.0.1:0", // any free port
			Ready: func(addr string) { ready <- addr },
		})
	}()
	resp, err := http.Get("http://" + <-ready + "/timestamp.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Cache-Control"), string(body))
	stop()
	fmt.Println("shutdown:", <-done)
	// Output:
	// 200 no-cache {"signed":{}}
	// shutdown: <nil>
}
