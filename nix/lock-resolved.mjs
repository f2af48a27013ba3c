// Give every registry package of an npm lockfile the `resolved` address npm itself would use.
//
//   node lock-resolved.mjs REGISTRY FILE     (rewrites FILE in place)
//
// This project's package-lock.json holds `integrity` but no `resolved`: it is written with
// npm's omit-lockfile-registry-resolved, so that no registry's address is part of the
// project, and npm fills each one in from its configured registry at install time. nixpkgs'
// fetchNpmDeps fetches only entries that have a `resolved` URL (and importNpmLock fetches
// none without one), so package.nix runs this in postPatch, which buildNpmPackage also hands
// to fetchNpmDeps: both see the same lockfile. REGISTRY comes from `npm config get registry`
// in the build, npm's own default there. Plain JavaScript: it runs before any dependency (or
// TypeScript) is installed.
import fs from 'node:fs';
import url from 'node:url';

/** The tarball address of NAME@VERSION on REGISTRY, as the registry lays it out. */
export const tarballUrl = (registry, name, version) => {
  const base = registry.endsWith('/') ? registry : `${registry}/`;
  const unscoped = name.startsWith('@') ? name.slice(name.indexOf('/') + 1) : name;
  return `${base}${name}/-/${unscoped}-${version}.tgz`;
};

/** The package a `packages` key installs: its own `name` (an alias's target), else the key's last name. */
const packageName = (key, entry) => entry.name ?? key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);

/** The lockfile with `resolved` filled in for each registry entry that lacks one. */
export const withResolved = (lock, registry) => {
  if (lock.lockfileVersion !== 2 && lock.lockfileVersion !== 3) {
    throw new Error(`lockfile version ${lock.lockfileVersion}: only versions 2 and 3 are handled`);
  }
  const packages = {};
  for (const [key, entry] of Object.entries(lock.packages ?? {})) {
    const fromRegistry = key.includes('node_modules/') && entry.resolved === undefined && !entry.link &&
      !entry.inBundle && typeof entry.version === 'string' && typeof entry.integrity === 'string';
    packages[key] = fromRegistry ? {...entry, resolved: tarballUrl(registry, packageName(key, entry), entry.version)} : entry;
  }
  return {...lock, packages};
};

if (process.argv[1] !== undefined && import.meta.url === url.pathToFileURL(fs.realpathSync(process.argv[1])).href) {
  const [registry, file] = process.argv.slice(2);
  if (!registry || !file) {
    process.stderr.write('usage: node lock-resolved.mjs REGISTRY FILE\n');
    process.exit(2);
  }
  const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
  fs.writeFileSync(file, `${JSON.stringify(withResolved(lock, registry), null, 2)}\n`);
}
