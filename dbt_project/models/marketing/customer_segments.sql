-- Campaign segments from the sales domain's gold lifetime value (a cross-domain read of gold).
select
    customer_id,
    email,
    case
        when lifetime_value >= 5000 then 'vip'
        when lifetime_value >= 1000 then 'regular'
        when orders > 0 then 'occasional'
        else 'dormant'
    end as segment,
    lifetime_value
from {{ ref('customer_lifetime_value') }}
