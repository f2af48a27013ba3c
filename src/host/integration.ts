/**
 * --net, --gpu, --locale, --fonts, the display, sound and bus options (desktop.ts) and
 * --desktop: which host paths, devices, variables and files each brings, as a pure function
 * of what the host has (`HostProbe`). The paths go through planHostResources like the user's
 * own binds, so their chains into the store come along.
 */
import {desktopPlan, NO_DESKTOP, PORTAL_NAMES, waylandSocket, type BusPlan, type DesktopIntegration, type DesktopProbe} from './desktop.js';
import type {HostResource} from './resources.js';

export interface HostIntegration extends DesktopIntegration {
  net: boolean;
  /** The CA bundle alone, as --net brings it (for --allow-host, whose jail has its own network). */
  ca?: boolean;
  gpu: boolean;
  locale: boolean;
  fonts: boolean;
  /** A graphical program's usual set: a display, sound, the GPU, fonts, the locale, the portals. */
  desktop: boolean;
}

// Stryker disable next-line ObjectLiteral: an absent switch is off too.
export const NO_INTEGRATION: HostIntegration = {net: false, gpu: false, locale: false, fonts: false, desktop: false, ...NO_DESKTOP};

export interface HostProbe extends DesktopProbe {
  /** The names in the host's /dev (for NVIDIA's device nodes). */
  devNames: () => string[];
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
  /** Files written into the jail from memory (the display's Xauthority). */
  files: Array<{dest: string; data: Buffer}>;
  /** The buses the jail reaches through xdg-dbus-proxy, if any. */
  bus: BusPlan | undefined;
  /** One line per option whose host resources are missing: `--gpu: this host has no /dev/dri`. */
  missing: string[];
}

/** Where the jail's programs look for the CA bundle; the first is where the jail has it. */
export const CA_BUNDLE_PATHS = ['/etc/ssl/certs/ca-certificates.crt', '/etc/ssl/certs/ca-bundle.crt', '/etc/pki/tls/certs/ca-bundle.crt'] as const;
export const NET_FILES = ['/etc/resolv.conf', '/etc/hosts', '/etc/nsswitch.conf', '/etc/services', '/etc/protocols'] as const;
export const GPU_DRIVERS = ['/run/opengl-driver', '/run/opengl-driver-32'] as const;
export const FONT_DIRS = ['/usr/share/fonts', '/usr/local/share/fonts', '/usr/share/fontconfig'] as const;

const readOnly = (source: string, by: string, dest = source, variable?: string): HostResource => ({source, dest, readOnly: true, by, ...(variable === undefined ? {} : {variable})});

/**
 * What --desktop stands for on this host: Wayland when its compositor's socket is there, else
 * X11; sound, the GPU, fonts, the locale; the portals on the session bus.
 */
export const withDesktop = (wanted: HostIntegration, probe: HostProbe): HostIntegration => {
  if (!wanted.desktop) return wanted;
  const {file} = waylandSocket(probe.env);
  const wayland = file !== undefined && probe.exists(file);
  return {
    ...wanted,
    wayland: wanted.wayland || wayland,
    x11: wanted.x11 || !wayland,
    audio: true,
    gpu: true,
    fonts: true,
    locale: true,
    talk: [...new Set([...wanted.talk, ...PORTAL_NAMES])],
  };
};

export const integrationPlan = (asked: HostIntegration, probe: HostProbe): IntegrationPlan => {
  const wanted = withDesktop(asked, probe);
  const plan: IntegrationPlan = {resources: [], devices: [], keepEnv: [], setenv: [], links: [], shareNet: false, files: [], bus: undefined, missing: []};
  const lacking = (option: string, paths: string[]): void => {
    if (paths.length > 0) plan.missing.push(`${option}: this host has no ${paths.join(', ')}`);
  };
  if (wanted.net || wanted.ca === true) {
    const by = wanted.net ? '--net' : '--allow-host';
    const present = wanted.net ? NET_FILES.filter(file => probe.exists(file)) : [];
    if (wanted.net) {
      plan.shareNet = true;
      plan.resources.push(...present.map(file => readOnly(file, '--net')));
    }
    // The bundle the caller's programs use: the one their environment names, else the system's.
    const variable = (['NIX_SSL_CERT_FILE', 'SSL_CERT_FILE'] as const).find(name => probe.env[name] !== undefined && probe.env[name] !== '');
    const named = variable === undefined ? undefined : probe.env[variable];
    const bundle = named ?? CA_BUNDLE_PATHS.find(file => probe.exists(file));
    const [jailBundle, ...others] = CA_BUNDLE_PATHS;
    // Stryker disable next-line ConditionalExpression: nothing exists at an undefined path.
    if (bundle !== undefined && probe.exists(bundle)) {
      plan.resources.push(readOnly(bundle, by, jailBundle, named === undefined ? undefined : variable));
      plan.links.push(...others.map(dest => ({target: jailBundle, dest})));
      plan.setenv.push(['SSL_CERT_FILE', jailBundle], ['NIX_SSL_CERT_FILE', jailBundle]);
    }
    // Stryker disable next-line ConditionalExpression: as above.
    lacking(by, [...(wanted.net ? NET_FILES.filter(file => !present.includes(file)) : []), ...(bundle !== undefined && probe.exists(bundle) ? [] : [named ?? 'CA bundle'])]);
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
      if (value !== undefined && value.startsWith('/') && probe.exists(value)) plan.resources.push(readOnly(value, '--locale', value, name));
    }
    if (probe.exists('/etc/localtime')) plan.resources.push(readOnly('/etc/localtime', '--locale'));
    else lacking('--locale', ['/etc/localtime']);
  }
  if (wanted.fonts) {
    if (probe.exists('/etc/fonts')) plan.resources.push(readOnly('/etc/fonts', '--fonts'));
    else lacking('--fonts', ['/etc/fonts']);
    plan.resources.push(...FONT_DIRS.filter(dir => probe.exists(dir)).map(dir => readOnly(dir, '--fonts')));
  }
  const desktop = desktopPlan(wanted, probe);
  plan.resources.push(...desktop.resources);
  plan.setenv.push(...desktop.setenv);
  plan.files.push(...desktop.files);
  plan.bus = desktop.bus;
  plan.missing.push(...desktop.missing);
  return plan;
};
