package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/deploy"
	"github.com/orderflow/orderflow/internal/cfntemplate"
	"github.com/orderflow/orderflow/internal/lambdazip"
	"github.com/orderflow/orderflow/internal/local"
)

// zipFlags choose ProcessOrderFunction's code for up and bench: its Go code
// in-process (the default), or its deployment zip, whose bootstrap the
// embedded cloud runs as child processes — built from this clone as
// orderflow deploy builds it (--from-zip), or a zip built before (--zip).
type zipFlags struct {
	fromZip bool
	file    string
}

func (z *zipFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&z.fromZip, "from-zip", false, "run ProcessOrderFunction from its deployment zip, built from this clone as orderflow deploy builds it, as child processes speaking the Lambda Runtime API (default: its Go code, in-process)")
	cmd.Flags().StringVar(&z.file, "zip", "", "like --from-zip, with the deployment zip `FILE` (make zip builds dist/ProcessOrderFunction.zip) instead of a build")
}

// artefact is the function's zip, nil to run it in-process, and what it
// is ("built from DIR for linux/ARCH", or the file's name). cmd names the
// command, for the errors; progress receives the build's line.
func (z zipFlags) artefact(ctx context.Context, progress io.Writer, cmd string) (zip []byte, from string, err error) {
	if !z.fromZip && z.file == "" {
		return nil, "", nil
	}
	tmpl, err := cfntemplate.Parse(deploy.TemplateYAML)
	if err != nil {
		return nil, "", fmt.Errorf("read deploy/template.yaml: %w", err)
	}
	arch, note := buildArch(false, tmpl)
	if z.file == "" {
		src, err := sourceDir("", cmd+" --from-zip", "give --zip FILE, a zip make zip built")
		if err != nil {
			return nil, "", err
		}
		fmt.Fprintf(progress, "Building ProcessOrderFunction for linux/%s%s …\n", arch, note)
		zip, err := buildFunction(ctx, src, arch, cmd+" --from-zip")
		if err != nil {
			return nil, "", err
		}
		return zip, fmt.Sprintf("built from %s for linux/%s", src, arch), nil
	}
	zip, err = os.ReadFile(z.file)
	if err != nil {
		return nil, "", fmt.Errorf("--zip %s cannot be read (%v): give the deployment zip make zip builds (dist/ProcessOrderFunction.zip), or --from-zip to build one from this clone", z.file, errors.Unwrap(err))
	}
	built, err := lambdazip.Inspect(zip)
	switch {
	case errors.Is(err, lambdazip.ErrNotZip):
		return nil, "", fmt.Errorf("--zip %s is not a zip file: give the deployment zip make zip builds (dist/ProcessOrderFunction.zip), or --from-zip to build one from this clone", z.file)
	case errors.Is(err, lambdazip.ErrNoBootstrap):
		return nil, "", fmt.Errorf("--zip %s holds no file named bootstrap at its root, the executable a provided.al2023 function starts: give the deployment zip make zip builds (dist/ProcessOrderFunction.zip), or --from-zip to build one from this clone", z.file)
	case err != nil:
		return nil, "", fmt.Errorf("--zip %s is not a deployment zip the embedded cloud can run: %v; give the one make zip builds (dist/ProcessOrderFunction.zip), or --from-zip to build one from this clone", z.file, err)
	case built != "" && built != arch:
		return nil, "", fmt.Errorf("--zip %s's bootstrap is built for linux/%s, but here the function runs linux/%s builds%s: give a zip built for linux/%s, or --from-zip to build one from this clone", z.file, built, arch, note, arch)
	}
	return zip, z.file, nil
}

// codeSentence says how the pipeline's function runs: its Go code
// in-process, or its zip (from: what it was built from) as child
// processes, natively or under which emulation.
func codeSentence(l *local.Pipeline, from string) string {
	name := l.Output("ProcessOrderFunctionName")
	x, _ := l.Cloud.Lambda.Execution(name)
	if !x.Zip {
		return name + " runs its Go code in-process (--from-zip runs its deployment zip as child processes instead)."
	}
	return fmt.Sprintf("%s runs its deployment zip s3://%s/%s (%s) as child processes speaking the Lambda Runtime API, %s.", name, l.CodeBucket, l.CodeKey, from, howItRuns(x))
}

// howItRuns says how a zip function's processes run: "natively",
// "natively, built for x86_64, not the declared arm64 (…)" where nothing
// here runs the declared architecture, or "emulated: arm64 on x86_64
// (qemu-aarch64-static)".
func howItRuns(x lambda.Execution) string {
	switch {
	case x.Emulator != "":
		return "emulated: " + x.Emulation
	case x.Emulation != "":
		return "natively, " + strings.TrimPrefix(x.Emulation, "none, ")
	}
	return "natively"
}

// executionMode is how a function runs, for bench's JSON mode:
// "in-process", or "zip, " and how its processes run.
func executionMode(x lambda.Execution) string {
	if !x.Zip {
		return "in-process"
	}
	return "zip, " + howItRuns(x)
}
