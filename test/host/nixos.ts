/**
 * A NixOS-shaped host as a table of symbolic links, for the pure host-resource tests: /etc's
 * files are links through /etc/static into the `…-etc` entry, whose files link on into the
 * entries that provide them.
 */
import type {HostView} from '../../src/host/resources.js';

export const ETC = 'e0000000000000000000000000000000-etc';
export const CACERT = 'c0000000000000000000000000000000-nss-cacert-3.98';
export const TZDATA = 't0000000000000000000000000000000-tzdata-2024a';
export const FONTS = 'f0000000000000000000000000000000-fontconfig-etc';
export const DRIVERS = 'g0000000000000000000000000000000-graphics-drivers';

export const NIXOS_LINKS: Record<string, string> = {
  '/etc/static': `/nix/store/${ETC}/etc`,
  '/etc/ssl/certs/ca-certificates.crt': '/etc/static/ssl/certs/ca-certificates.crt',
  [`/nix/store/${ETC}/etc/ssl/certs/ca-certificates.crt`]: `/nix/store/${CACERT}/etc/ssl/certs/ca-bundle.crt`,
  '/etc/localtime': '/etc/zoneinfo/Europe/Berlin',
  '/etc/zoneinfo': '/etc/static/zoneinfo',
  [`/nix/store/${ETC}/etc/zoneinfo`]: `/nix/store/${TZDATA}/share/zoneinfo`,
  '/etc/fonts': '/etc/static/fonts',
  [`/nix/store/${ETC}/etc/fonts`]: `/nix/store/${FONTS}/etc/fonts`,
  '/run/opengl-driver': `/nix/store/${DRIVERS}`,
  // Relative, and through `..`: /srv/data/current → ../releases/2 → /srv/releases/2.
  '/srv/data/current': '../releases/2',
  '/srv/releases/2/cert.pem': '/etc/ssl/certs/ca-certificates.crt',
  '/loop/a': '/loop/b',
  '/loop/b': '/loop/a',
};

/** Directories and the links below them, as linksInside would find them. */
export const NIXOS_DIRS: Record<string, string[]> = {
  '/etc/ssl': ['/etc/ssl/certs/ca-certificates.crt'],
  '/srv/releases/2': ['/srv/releases/2/cert.pem'],
};

export const nixosHost = (links: Record<string, string> = NIXOS_LINKS, dirs: Record<string, string[]> = NIXOS_DIRS): HostView & {reads: string[]} => {
  const reads: string[] = [];
  return {
    reads,
    readlink: candidate => {
      reads.push(candidate);
      return links[candidate];
    },
    linksInside: dir => dirs[dir] ?? [],
  };
};
