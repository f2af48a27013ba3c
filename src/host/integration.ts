/**
 * --net, --gpu, --locale and --fonts: which host paths, devices and variables each brings,
 * as a pure function of what the host has (`HostProbe`). The paths go through
 * planHostResources like the user's own binds, so their chains into the store come along.
 */
import type {HostResource} from './resources.js';

export interface HostIntegration {
  net: boolean;
  gpu: boolean;
  locale: boolean;
  fonts: boolean;
}

// Stryker disable next-line ObjectLiteral: an absent switch is off too.
export const NO_INTEGRATION: HostIntegration = {net: false, gpu: false, locale: false, fonts: false};

export interface HostProbe {
  exists: (candidate: string) => boolean;
  /** The names in the host's /dev (for NVIDIA's device nodes). */
  devNames: () => string[];
  env: Readonly<Record<string, string | undefined>>;
}

export interface IntegrationPlan {
  resources: HostResource[];
  /** Device nodes (or directories of them) bound with device access, at the same path. */
  devices: string[];
  keepEnv: string[];
  setenv: Array<[string, string]>;
  /** Links made in the jail itself (the other usual names of the CA bundle). */
  links: Array<{target: string; dest: string}>;
  shareNet: boolean;
  /** One line per option whose host resources are missing: `--gpu: this host has no /dev/dri`. */
  missing: string[];
}

/** Where the jail's programs look for the CA bundle; the first is where the jail has it. */
export const CA_BUNDLE_PATHS = ['/etc/ssl/certs/ca-certificates.crt', '/etc/ssl/certs/ca-bundle.crt', '/etc/pki/tls/certs/ca-bundle.crt'] as const;
export const NET_FILES = ['/etc/resolv.conf', '/etc/hosts', '/etc/nsswitch.conf', '/etc/services', '/etc/protocols'] as const;
export const GPU_DRIVERS = ['/run/opengl-driver', '/run/opengl-driver-32'] as const;
export const FONT_DIRS = ['/usr/share/fonts', '/usr/local/share/fonts', '/usr/share/fontconfig'] as const;

const readOnly = (source: string, by: string, dest = source): HostResource => ({source, dest, readOnly: true, by});

export const integrationPlan = (wanted: HostIntegration, probe: HostProbe): IntegrationPlan => {
  const plan: IntegrationPlan = {resources: [], devices: [], keepEnv: [], setenv: [], links: [], shareNet: false, missing: []};
  const lacking = (option: string, paths: string[]): void => {
    if (paths.length > 0) plan.missing.push(`${option}: this host has no ${paths.join(', ')}`);
  };
  if (wanted.net) {
    plan.shareNet = true;
    const present = NET_FILES.filter(file => probe.exists(file));
    plan.resources.push(...present.map(file => readOnly(file, '--net')));
    // The bundle the caller's programs use: the one their environment names, else the system's.
    const named = [probe.env['NIX_SSL_CERT_FILE'], probe.env['SSL_CERT_FILE']].find(file => file !== undefined && file !== '');
    const bundle = named ?? CA_BUNDLE_PATHS.find(file => probe.exists(file));
    const [jailBundle, ...others] = CA_BUNDLE_PATHS;
    // Stryker disable next-line ConditionalExpression: nothing exists at an undefined path.
    if (bundle !== undefined && probe.exists(bundle)) {
      plan.resources.push(readOnly(bundle, '--net', jailBundle));
      plan.links.push(...others.map(dest => ({target: jailBundle, dest})));
      plan.setenv.push(['SSL_CERT_FILE', jailBundle], ['NIX_SSL_CERT_FILE', jailBundle]);
    }
    // Stryker disable next-line ConditionalExpression: as above.
    lacking('--net', [...NET_FILES.filter(file => !present.includes(file)), ...(bundle !== undefined && probe.exists(bundle) ? [] : [named ?? 'CA bundle'])]);
  }
  if (wanted.gpu) {
    const dri = probe.exists('/dev/dri');
    if (dri) plan.devices.push('/dev/dri');
    plan.devices.push(...probe.devNames().filter(name => /^nvidia/.test(name)).sort().map(name => `/dev/${name}`));
    const drivers = GPU_DRIVERS.filter(dir => probe.exists(dir));
    plan.resources.push(...drivers.map(dir => readOnly(dir, '--gpu')));
    lacking('--gpu', [...(dri ? [] : ['/dev/dri']), ...(drivers.length === 0 ? [GPU_DRIVERS[0]] : [])]);
  }
  if (wanted.locale) {
    plan.keepEnv.push(...['LANG', 'LANGUAGE', 'TZ', 'TZDIR', 'LOCALE_ARCHIVE'].filter(name => probe.env[name] !== undefined));
    plan.keepEnv.push(...Object.keys(probe.env).filter(name => name.startsWith('LC_')).sort());
    for (const name of ['LOCALE_ARCHIVE', 'TZDIR']) {
      const value = probe.env[name];
      if (value !== undefined && value.startsWith('/') && probe.exists(value)) plan.resources.push(readOnly(value, '--locale'));
    }
    if (probe.exists('/etc/localtime')) plan.resources.push(readOnly('/etc/localtime', '--locale'));
    else lacking('--locale', ['/etc/localtime']);
  }
  if (wanted.fonts) {
    if (probe.exists('/etc/fonts')) plan.resources.push(readOnly('/etc/fonts', '--fonts'));
    else lacking('--fonts', ['/etc/fonts']);
    plan.resources.push(...FONT_DIRS.filter(dir => probe.exists(dir)).map(dir => readOnly(dir, '--fonts')));
  }
  return plan;
};
