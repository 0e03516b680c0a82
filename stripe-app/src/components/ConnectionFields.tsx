import {Badge, Box, FormFieldGroup, TextField} from '@stripe/ui-extension-sdk/ui';

import type {ApiError, MerchantStatus, Settings} from '../api';
import type {SettingsForm} from '../settingsForm';
import Section from './Section';

const STATUS_BADGE: Record<MerchantStatus, 'positive' | 'warning' | 'negative'> = {
  active: 'positive',
  pending: 'warning',
  disabled: 'negative',
};

type Props = {
  settings: Settings;
  form: SettingsForm;
  onChange: (changes: Partial<SettingsForm>) => void;
  refusal: ApiError | null;
};

/** One field's messages from a refused save, as the field's error text. */
function fieldError(refusal: ApiError | null, field: string): string | undefined {
  const messages = refusal?.fieldErrors(field) ?? [];
  return messages.length ? messages.join(' ') : undefined;
}

/**
 * The WhatsApp Cloud API connection. The access token is write-only: the page says whether one is
 * saved and offers an empty password field to replace it; the saved token is never sent back here.
 */
const ConnectionFields = ({settings, form, onChange, refusal}: Props) => (
  <Section
    title="WhatsApp connection"
    description="The WhatsApp Business phone number that sends your customers' notices, from Meta's WhatsApp Manager."
  >
    <Box css={{stack: 'x', gap: 'small', alignY: 'center'}}>
      <Box>Bridge status:</Box>
      <Badge type={STATUS_BADGE[settings.status] ?? 'neutral'}>{settings.status}</Badge>
    </Box>
    <FormFieldGroup legend="Cloud API" layout="vertical">
      <TextField
        label="Phone number ID"
        name="phone_number_id"
        value={form.phoneNumberId}
        error={fieldError(refusal, 'phone_number_id')}
        onChange={(e) => onChange({phoneNumberId: e.target.value})}
      />
      <TextField
        label="WhatsApp Business Account ID"
        name="business_account_id"
        value={form.businessAccountId}
        error={fieldError(refusal, 'business_account_id')}
        onChange={(e) => onChange({businessAccountId: e.target.value})}
      />
      <TextField
        label="Access token"
        name="access_token"
        type="password"
        autoComplete="off"
        description={
          settings.access_token_set
            ? 'Access token set. Type a new one to replace it; leave this empty to keep it.'
            : 'No access token set. Paste a System User token with whatsapp_business_messaging.'
        }
        value={form.accessToken}
        error={fieldError(refusal, 'access_token')}
        onChange={(e) => onChange({accessToken: e.target.value})}
      />
    </FormFieldGroup>
  </Section>
);

export default ConnectionFields;
