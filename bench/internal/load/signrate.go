package load

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// signRate is ScenarioSign: presigned PUT URLs made one after another for d, none sent.
func (c *Client) signRate(ctx context.Context, d time.Duration) ([]Result, error) {
	r := Result{Scenario: ScenarioSign, Phase: "sign", Concurrency: 1}
	start := time.Now()
	for time.Since(start) < d {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := c.presign(ctx, http.MethodPut, fmt.Sprintf("sign/%d", r.Ops)); err != nil {
			return nil, err
		}
		r.Ops++
	}
	r.Seconds = time.Since(start).Seconds()
	r.OpsPerSec = float64(r.Ops) / r.Seconds
	return []Result{r}, nil
}
