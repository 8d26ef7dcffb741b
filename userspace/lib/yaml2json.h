/* SPDX-License-Identifier: GPL-2.0 */
/* Converts a YAML document into a jansson JSON value: the one document model of xdpgw. */
#ifndef XDPGW_YAML2JSON_H
#define XDPGW_YAML2JSON_H

#include <jansson.h>
#include <stddef.h>

/*
 * Parses one YAML document from buf (len bytes). Mappings become objects (keys must be
 * scalars; a repeated key is an error), sequences arrays, plain scalars null/true/false/
 * integers/reals when they look like one (YAML 1.2 core schema), everything else strings;
 * quoted scalars are always strings. Anchors, aliases and merge keys are refused, as is
 * nesting deeper than 64 levels. An empty document is an empty object.
 * Returns a new reference, or NULL with "LINE:COL: cause" in err (errlen bytes).
 */
json_t *yaml_to_json(const char *buf, size_t len, char *err, size_t errlen);

/* Reads a whole file (at most 16 MiB) and converts it; err names the file on failure. */
json_t *yaml_file_to_json(const char *path, char *err, size_t errlen);

#endif
