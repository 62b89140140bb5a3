-- Billing platform, schema version 2 (the TARGET system).
--
-- The next major version of testbed/schema/v1.sql. What changed, and how
-- every v1 column maps here, is in testbed/MAPPING.md:
--   * <entity>_id keys instead of i_<entity>, and several renamed columns,
--   * money as BIGINT micro-units (1 unit of currency = 1,000,000),
--   * statuses as TINYINT codes,
--   * a customer's contact data in customer_contacts,
--   * an account's service settings as rows of account_service_settings,
--   * call records in `cdrs`, durations in milliseconds,
--   * products with their own ids (matched to v1 through `product_code`).
--
-- Rows created natively on this system take ids from 1,000,000,000 up, so
-- they never collide with the ids of customers moved over from v1 (which
-- keep their v1 ids).
--
-- Statements are separated by a semicolon at the end of a line; no semicolon
-- appears anywhere else (the loader splits on them).

CREATE TABLE IF NOT EXISTS resource_classes (
  resource_class_id INT UNSIGNED NOT NULL PRIMARY KEY,
  class_name VARCHAR(64) NOT NULL,
  UNIQUE KEY uk_name (class_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS resource_types (
  resource_type_id INT UNSIGNED NOT NULL PRIMARY KEY,
  type_code VARCHAR(64) NOT NULL,
  type_name VARCHAR(128) NOT NULL,
  resource_class_id INT UNSIGNED NOT NULL,     -- resource_classes
  unit VARCHAR(16) NOT NULL,
  UNIQUE KEY uk_code (type_code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS payment_systems (
  payment_system_id INT UNSIGNED NOT NULL PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  UNIQUE KEY uk_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- product_id is local to this system; product_code matches v1 products.code.
CREATE TABLE IF NOT EXISTS products (
  product_id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  product_code VARCHAR(64) NOT NULL,
  display_name VARCHAR(128) NOT NULL,
  category VARCHAR(32) NOT NULL,
  contract_pool VARCHAR(64) NOT NULL,
  is_addon TINYINT(1) NOT NULL DEFAULT 0,
  monthly_fee_micros BIGINT NOT NULL,
  currency CHAR(3) NOT NULL,
  activation_params JSON NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  UNIQUE KEY uk_code (product_code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS product_resources (
  product_id INT UNSIGNED NOT NULL,            -- products
  resource_type_id INT UNSIGNED NOT NULL,      -- resource_types
  limit_value BIGINT NOT NULL,
  PRIMARY KEY (product_id, resource_type_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS product_addons (
  product_id INT UNSIGNED NOT NULL,            -- products
  addon_product_id INT UNSIGNED NOT NULL,      -- products (is_addon = 1)
  PRIMARY KEY (product_id, addon_product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- status: 1 open, 2 suspended, 3 closed, 4 exported.
-- billing_period: 'monthly' | 'weekly' | 'daily'.
CREATE TABLE IF NOT EXISTS customers (
  customer_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  login VARCHAR(64) NOT NULL,
  password_hash VARCHAR(160) NOT NULL,
  balance_micros BIGINT NOT NULL DEFAULT 0,
  credit_limit_micros BIGINT NOT NULL DEFAULT 0,
  currency CHAR(3) NOT NULL,
  payment_system_id INT UNSIGNED NOT NULL,     -- payment_systems
  billing_period VARCHAR(16) NOT NULL,
  status TINYINT UNSIGNED NOT NULL,
  created_at DATETIME NOT NULL,
  UNIQUE KEY uk_login (login),
  KEY k_payment_system (payment_system_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 AUTO_INCREMENT=1000000000;

CREATE TABLE IF NOT EXISTS customer_contacts (
  customer_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,  -- customers
  full_name VARCHAR(128) NOT NULL,
  email VARCHAR(128) NOT NULL,
  phone VARCHAR(32) NOT NULL,
  address_line VARCHAR(255) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- status: 1 active, 2 blocked, 3 closed.
CREATE TABLE IF NOT EXISTS accounts (
  account_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  phone_number VARCHAR(32) NOT NULL,
  customer_id BIGINT UNSIGNED NOT NULL,        -- customers
  product_id INT UNSIGNED NOT NULL,            -- products (v2 ids)
  balance_micros BIGINT NOT NULL DEFAULT 0,
  status TINYINT UNSIGNED NOT NULL,
  created_at DATETIME NOT NULL,
  UNIQUE KEY uk_phone (phone_number),
  KEY k_customer (customer_id, account_id),
  KEY k_product (product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 AUTO_INCREMENT=1000000000;

CREATE TABLE IF NOT EXISTS account_service_settings (
  account_id BIGINT UNSIGNED NOT NULL,         -- accounts
  setting_name VARCHAR(64) NOT NULL,
  setting_value VARCHAR(255) NOT NULL,
  PRIMARY KEY (account_id, setting_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- status: 1 active, 2 pending, 3 closed.
CREATE TABLE IF NOT EXISTS subscriptions (
  subscription_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id BIGINT UNSIGNED NOT NULL,        -- customers
  account_id BIGINT UNSIGNED NOT NULL,         -- accounts
  product_id INT UNSIGNED NOT NULL,            -- products (v2 ids)
  is_addon TINYINT(1) NOT NULL DEFAULT 0,
  status TINYINT UNSIGNED NOT NULL,
  activated_on DATE NOT NULL,
  KEY k_customer (customer_id),
  KEY k_account (account_id),
  KEY k_product (product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 AUTO_INCREMENT=1000000000;

CREATE TABLE IF NOT EXISTS subscription_usage (
  subscription_id BIGINT UNSIGNED NOT NULL,    -- subscriptions
  resource_type_id INT UNSIGNED NOT NULL,      -- resource_types
  used_quantity BIGINT NOT NULL,
  PRIMARY KEY (subscription_id, resource_type_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Call and usage records (v1 `xdrs`). duration_ms: milliseconds.
CREATE TABLE IF NOT EXISTS cdrs (
  cdr_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  account_id BIGINT UNSIGNED NOT NULL,         -- accounts
  customer_id BIGINT UNSIGNED NOT NULL,        -- customers
  started_at DATETIME NOT NULL,
  duration_ms BIGINT UNSIGNED NOT NULL,
  charged_micros BIGINT NOT NULL,
  calling_number VARCHAR(32) NOT NULL,
  called_number VARCHAR(32) NOT NULL,
  KEY k_account_time (account_id, started_at, cdr_id),
  KEY k_customer (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 AUTO_INCREMENT=1000000000;

CREATE TABLE IF NOT EXISTS balance_transactions (
  transaction_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id BIGINT UNSIGNED NOT NULL,        -- customers
  account_id BIGINT UNSIGNED NULL,             -- accounts
  amount_micros BIGINT NOT NULL,
  kind VARCHAR(16) NOT NULL,                   -- 'opening' 'charge' 'topup' 'adjustment' 'refund'
  created_at DATETIME NOT NULL,
  KEY k_customer (customer_id, transaction_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 AUTO_INCREMENT=1000000000;

-- status: 1 open, 2 paid, 3 overdue, 4 void.
CREATE TABLE IF NOT EXISTS invoices (
  invoice_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id BIGINT UNSIGNED NOT NULL,        -- customers
  period_start DATE NOT NULL,
  period_end DATE NOT NULL,
  amount_due_micros BIGINT NOT NULL,
  status TINYINT UNSIGNED NOT NULL,
  issued_at DATETIME NOT NULL,
  KEY k_customer (customer_id, invoice_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 AUTO_INCREMENT=1000000000;

CREATE TABLE IF NOT EXISTS payment_methods (
  payment_method_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id BIGINT UNSIGNED NOT NULL,        -- customers
  method VARCHAR(16) NOT NULL,
  masked_number VARCHAR(32) NOT NULL,
  expires_on DATE NULL,
  is_default TINYINT(1) NOT NULL DEFAULT 0,
  KEY k_customer (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 AUTO_INCREMENT=1000000000;

CREATE TABLE IF NOT EXISTS portal_sessions (
  session_hash CHAR(64) NOT NULL PRIMARY KEY,
  customer_id BIGINT UNSIGNED NOT NULL,        -- customers
  created_at DATETIME NOT NULL,
  expires_at DATETIME NOT NULL,
  KEY k_customer (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS api_tokens (
  token_hash CHAR(64) NOT NULL PRIMARY KEY,
  customer_id BIGINT UNSIGNED NOT NULL,        -- customers
  label VARCHAR(64) NOT NULL,
  created_at DATETIME NOT NULL,
  expires_at DATETIME NULL,
  KEY k_customer (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
