import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {unlessRemoved} from '../../src/mask/publish.js';

const removed = suite('unlessRemoved');
let maskDir = '';

removed.before.each(() => {
  maskDir = fs.mkdtempSync(path.join(os.tmpdir(), 'noj-mask-'));
  fs.writeFileSync(path.join(maskDir, 'state.json'), '{}');
});
removed.after.each(() => fs.rmSync(maskDir, {recursive: true, force: true}));

removed('should give what the look found while the mask is there', async () => {
  assert.is(await unlessRemoved(maskDir, async () => 'intact'), 'intact');
});

removed('should say the mask is gone when it went during the look (gc removed it)', async () => {
  const look = async (): Promise<string> => {
    fs.rmSync(maskDir, {recursive: true});
    throw Object.assign(new Error(`cannot check mask ${maskDir}`), {code: 'ENOENT'});
  };
  assert.is(await unlessRemoved(maskDir, look), undefined);
});

removed('should pass on a check that failed while the mask is still there', async () => {
  const refused = new Error('refusing mask: not owned by uid 0');
  try {
    await unlessRemoved(maskDir, async () => {
      throw refused;
    });
    assert.unreachable('the refusal was swallowed');
  } catch (error) {
    assert.is(error, refused);
  }
});

removed.run();
