import uiExtensionJestConfig from '@stripe/ui-extension-tools/jest.config.ui-extension.mjs';

export default {
  ...uiExtensionJestConfig,
  roots: ['<rootDir>/src'],
  transform: {
    ...uiExtensionJestConfig.transform,
    // @stripe/ui-extension-sdk 9 ships ES modules in .js files (its /testing and /ui entry points
    // included), which Jest's CommonJS runtime cannot load as they are: ts-jest compiles them too.
    '^.+\\.js$': 'ts-jest',
  },
  transformIgnorePatterns: ['/node_modules/(?!@stripe/ui-extension-sdk/)'],
};
