package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/cloud"
)

// limitFlags are up's bounds on what clients can make the cloud hold.
type limitFlags struct {
	maxConns int
	bodyMiB  int
}

func (f *limitFlags) register(cmd *cobra.Command) {
	cmd.Flags().IntVar(&f.maxConns, "max-connections", 0, fmt.Sprintf("client connections served at once; more wait, and idle ones are closed to make room (default %d, or fewer if the open-file limit, ulimit -n, leaves less room once descriptors are kept for the data files)", cloud.DefaultMaxConnections))
	cmd.Flags().IntVar(&f.bodyMiB, "max-body-buffer-mib", cloud.DefaultMaxBodyBuffer>>20, fmt.Sprintf("MiB of request bodies held in memory at once across all requests; a request over it waits, then gets 503 ServiceUnavailable (at least %d)", cloud.MinMaxBodyBuffer>>20))
}

func (f *limitFlags) check() error {
	if f.maxConns < 0 {
		return fmt.Errorf("--max-connections %d must be positive (0 for the default)", f.maxConns)
	}
	if f.bodyMiB < cloud.MinMaxBodyBuffer>>20 {
		return fmt.Errorf("--max-body-buffer-mib %d is below %d: the largest request (%d MiB) must fit", f.bodyMiB, cloud.MinMaxBodyBuffer>>20, cloud.MaxRequestBytes>>20)
	}
	return nil
}
