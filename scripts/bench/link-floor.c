/*
 * The floor for building a whiteout mask: mknod one whiteout, then link() it once per name
 * read from standard input (one per line) into a directory, starting a new template on EMLINK.
 * Usage: link-floor DIR < names
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: link-floor LAYER TEMPLATEDIR < names\n");
    return 2;
  }
  int layer = open(argv[1], O_RDONLY | O_DIRECTORY);
  int templates = open(argv[2], O_RDONLY | O_DIRECTORY);
  if (layer < 0 || templates < 0) { perror("open"); return 1; }
  char name[4096], template_name[64];
  int generation = 0;
  snprintf(template_name, sizeof template_name, "t%d", generation);
  if (mknodat(templates, template_name, S_IFCHR | 0644, makedev(0, 0))) { perror("mknodat"); return 1; }
  while (fgets(name, sizeof name, stdin)) {
    name[strcspn(name, "\n")] = 0;
    while (linkat(templates, template_name, layer, name, 0)) {
      if (errno != EMLINK) { perror("linkat"); return 1; }
      snprintf(template_name, sizeof template_name, "t%d", ++generation);
      if (mknodat(templates, template_name, S_IFCHR | 0644, makedev(0, 0))) { perror("mknodat"); return 1; }
    }
  }
  return 0;
}
