// Package deploy owns orderflow's CloudFormation template, template.yaml: the
// one description of the topology, deployed as is to AWS and provisioned into
// the embedded cloud, so the two cannot drift.
package deploy

import (
	_ "embed"

	"github.com/orderflow/orderflow/internal/cfntemplate"
)

// TemplateYAML is deploy/template.yaml.
//
//go:embed template.yaml
var TemplateYAML []byte

// Load parses the embedded template.yaml.
func Load() (*cfntemplate.Template, error) { return cfntemplate.Parse(TemplateYAML) }
