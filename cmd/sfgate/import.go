package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/sfgate/sfgate/gateway"
	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/gateway/config/armimport"
)

// runImport implements "sfgate import --arm template.json [--parameters params.json] [-o sfgate.yaml]": it
// writes the configuration, lists on stderr what it could not carry over, and checks the result as validate
// does (exit 1 when it does not load).
func runImport(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("import", stderr)
	arm := fs.String("arm", "", "ARM template exported from API Management (JSON; Bicep compiles to it)")
	params := fs.String("parameters", "", "ARM parameters file giving the template's parameters")
	out := fs.String("o", "", "write the configuration to this file (default: standard output)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *arm == "" {
		fmt.Fprintln(stderr, "sfgate import: give the template with --arm FILE")
		return 2
	}
	tpl, err := os.ReadFile(*arm)
	if err != nil {
		fmt.Fprintln(stderr, "sfgate import:", err)
		return 1
	}
	var paramData []byte
	if *params != "" {
		if paramData, err = os.ReadFile(*params); err != nil {
			fmt.Fprintln(stderr, "sfgate import:", err)
			return 1
		}
	}
	res, err := armimport.Import(tpl, paramData)
	if err != nil {
		fmt.Fprintf(stderr, "sfgate import: %s: %v\n", *arm, err)
		return 1
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "%s: %s\n", *arm, w)
	}
	name := *out
	if name == "" {
		name = "imported.yaml"
		stdout.Write(res.YAML)
	} else if err := os.WriteFile(name, res.YAML, 0o644); err != nil {
		fmt.Fprintln(stderr, "sfgate import:", err)
		return 1
	}
	cfg, err := config.Parse(res.ValidationYAML, name)
	if err == nil {
		err = gateway.Validate(cfg)
	}
	if err != nil {
		fmt.Fprintln(stderr, "sfgate import: the configuration does not load yet; fix these in it:")
		printConfigError(stderr, err)
		return 1
	}
	fmt.Fprintf(stderr, "sfgate import: %d APIs, %d backends, %d things not carried over (listed above)\n", len(cfg.APIs), len(cfg.Backends), len(res.Warnings))
	return 0
}
