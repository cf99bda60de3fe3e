package main

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// untilDone waits for srv to fail (served gives what its Serve returned) or ctx to end (Ctrl-C),
// then gives the requests in progress a few seconds to finish.
func untilDone(ctx context.Context, srv *http.Server, served <-chan error) error {
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
