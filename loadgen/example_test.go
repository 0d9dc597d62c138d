package loadgen_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"time"

	"github.com/bsiframework/bsi/loadgen"
)

func ExampleRun() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"v7"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write([]byte(`{"signed":{}}`))
	}))
	defer srv.Close()

	res, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: srv.URL, Conns: 4, Duration: 100 * time.Millisecond,
		Mix: []loadgen.Request{
			{Kind: "timestamp-304", Path: "timestamp.json", Status: 304, Weight: 8,
				Header: http.Header{"If-None-Match": {`"v7"`}}},
			{Kind: "snapshot", Path: "7.snapshot.json", Status: 200, Length: 13, Weight: 2},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ok:", res.OK(), "errors:", res.ErrorCount())
	for _, k := range res.Kinds {
		fmt.Println(k.Kind, "statuses:", slices.Sorted(maps.Keys(k.Statuses)))
	}
	// Output:
	// ok: true errors: 0
	// timestamp-304 statuses: [304]
	// snapshot statuses: [200]
}
