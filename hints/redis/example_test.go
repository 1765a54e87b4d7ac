package redis_test

import (
	"context"
	"fmt"
	"time"

	"github.com/exigo-mta/exigo/hints"
	hintsredis "github.com/exigo-mta/exigo/hints/redis"
)

// Two nodes open the same Redis database: the retry record one writes
// keeps the other from trying the host before its next try.
func Example() {
	ctx := context.Background()
	url := server.URL(8) // "redis://127.0.0.1:PORT/8": the redis-server TestMain started
	nodeA, err := hintsredis.Open(ctx, url, hintsredis.WithPrefix("example:"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nodeA.Close()
	nodeB, err := hintsredis.Open(ctx, url, hintsredis.WithPrefix("example:"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nodeB.Close()

	failed := time.Date(2026, 11, 21, 14, 25, 6, 0, time.UTC)
	rec := hints.Retry{FirstFailed: failed, LastTry: failed, NextTry: failed.Add(15 * time.Minute),
		Text: "451 4.7.1 greylisted"}
	if err := hints.PutRetry(ctx, nodeA, "T:mx.example.com:192.0.2.25", rec, time.Now().Add(time.Hour)); err != nil {
		fmt.Println(err)
		return
	}
	got, found, err := hints.GetRetry(ctx, nodeB, "T:mx.example.com:192.0.2.25")
	fmt.Println(found, err, got.NextTry.UTC(), got.Text)
	// Output: true <nil> 2026-11-21 14:40:06 +0000 UTC 451 4.7.1 greylisted
}
