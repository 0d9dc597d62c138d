package client_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/bsiframework/bsi/trust"
	"github.com/bsiframework/bsi/trust/client"
)

// The errors of the client say what failed on what, and which class of
// failure it is.
func ExampleRollbackError() {
	var err error = &client.RollbackError{Role: "timestamp", Trusted: 9, Got: 7}
	fmt.Println(err)
	fmt.Println(errors.Is(err, trust.ErrSecurity), errors.Is(err, trust.ErrFreshness))
	// Output:
	// timestamp: version 7 is lower than trusted 9
	// true false
}

func ExampleNew() {
	c, err := client.New(client.Config{MetadataDir: "/nonexistent", MetadataURL: "http://127.0.0.1:1/metadata"})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Without an initialised directory, refresh fails before any request.
	err = c.Refresh(context.Background())
	fmt.Println(err != nil, errors.Is(err, trust.ErrSecurity))
	fmt.Println(c.Freshness().Verified.IsZero())
	// Output:
	// true false
	// true
}
